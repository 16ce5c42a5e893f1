-- report merges (unless late) a batch of closed-state outcomes of
-- generation (from_inc, from_gen): before failures before the batch's
-- first success (all of them if it has none), saw if it has a success,
-- after failures after its last success. The merged run that reaches
-- fail_max trips. force asks to trip whatever the merged run, unless a
-- success has reset the run since the caller's view of it (the reset
-- count resets): the caller's own view reached FailMax. binding and batch
-- name the batch (batch "0": none): a batch sent again after its answer
-- was lost (by the store, again, or by the client's own retries) is
-- merged once: the last eight batch numbers of each binding are
-- remembered for IdleTTL, at the state key .. ':d'. again only tells a
-- reader of the command (a test, MONITOR) that the batch is sent again. A
-- report run past its deadline merges nothing and says so, to be sent
-- again.
local ARGS = {'from_inc:inc', 'from_gen:gen', 'before:count', 'saw:flag', 'after:count', 'fail_max:count',
              'force:flag', 'resets:number', 'binding:binding', 'batch:serial', 'again:flag'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end -- the sender sends it again
if r.st ~= 0 or not is_from(c, r, fresh, a.from_inc, a.from_gen) then
  return finish(B, c, r, now, corrupt, fresh)
end
local dk = c.k .. ':d'
local id = a.batch
local seen = redis.pcall('HGET', dk, a.binding)
if type(seen) ~= 'string' then seen = '' end
if id ~= '0' then
  -- merged already (sent again, or run again by the client): one of the
  -- last eight numbers, or older than all of them (a binding sends its
  -- batches in order, give or take its tripping call's)
  local n, low, dup = 0, nil, false
  for x in string.gmatch(seen, '[^,]+') do
    local v = tonumber(x)
    n = n + 1
    if x == id then dup = true end
    if v ~= nil and (low == nil or v < low) then low = v end
  end
  if dup or (n >= 8 and low ~= nil and tonumber(id) < low) then return finish(B, c, r, now, corrupt, fresh) end
end
local before, saw, after, failmax = a.before, a.saw, a.after, a.fail_max
local trip = false
if r.md == 2 then
  r.f = math.min(r.f + before, CMAX - 1)
  if saw then
    if r.f > 0 then r.rs = r.rs + 1 end
    r.f = after
  end
elseif r.f + before >= failmax then
  trip = true
elseif saw then
  if r.f + before > 0 then r.rs = r.rs + 1 end
  r.f = after
  trip = r.f >= failmax
else
  r.f = r.f + before
end
if not trip and r.md == 0 and a.force and r.rs == a.resets then trip = true end
local chg = 0
if trip then
  next_gen(c, r, 1, now, CAUSE.failures)
  r.f = failmax
  chg = 1
end
save(B, c, r, now, 0)
if id ~= '0' then
  local keep = id
  local k = 1
  for x in string.gmatch(seen, '[^,]+') do
    if k >= 8 then break end
    keep, k = keep .. ',' .. x, k + 1
  end
  if fix('HSET', dk, a.binding, a.binding, keep) == 1 and redis.call('HLEN', dk) > 256 then
    redis.call('DEL', dk) -- bindings come and go: forget them all now and then
    redis.call('HSET', dk, a.binding, keep)
  end
  redis.call('PEXPIRE', dk, c.idle)
end
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, 0, chg, corrupt)
