-- settle takes back lease permit of generation (from_inc, from_gen) with
-- its trial's outcome (1 success, 2 failure); success_threshold is
-- SuccessThreshold. A failed trial opens the breaker again from when it
-- failed: the lease's grant (its expiry less its length, lease_ms) plus
-- how long the trial ran after the grant reached its member (ran_ms, -1
-- unknown), never later than now. So the fleet's requests queued ahead of
-- this one do not lengthen the open period, and no clock but Redis's is
-- read.
local ARGS = {'from_inc:inc', 'from_gen:gen', 'permit:serial', 'outcome:choice', 'success_threshold:count',
              'ran_ms:span', 'lease_ms:ms'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if r.st ~= 2 or not is_from(c, r, fresh, a.from_inc, a.from_gen) then
  return finish(B, c, r, now, corrupt, fresh)
end
local expiry = fix('ZSCORE', c.t, nil, a.permit)
if fix('ZREM', c.t, nil, a.permit) == 0 then return finish(B, c, r, now, corrupt, fresh) end
local chg = 0
if a.outcome == 2 then
  next_gen(c, r, 1, now, CAUSE.trial_failed)
  r.f = 1
  chg = 1
  local e = int(expiry, 0, TMAX)
  if a.ran_ms >= 0 and e ~= nil then
    r.oa = math.max(math.min(e - a.lease_ms + a.ran_ms, now), 0)
  end
else
  r.s = r.s + 1
  if r.s >= a.success_threshold then
    next_gen(c, r, 0, now, CAUSE.trials_succeeded)
    chg = 1
  end
end
local n = trials(c, r, now)
save(B, c, r, now, n)
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, n, chg, corrupt)
