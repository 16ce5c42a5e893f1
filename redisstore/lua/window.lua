-- window merges member's window growth into the fleets' windows of one
-- bucket: per breaker, its context and ITEM_ARGS: (from_inc, from_gen)
-- its closed generation, more calls, failures and slow calls, the bucket
-- length in ms, the window's buckets, FailureRate, SlowCallRate, MinCalls
-- and FleetMinMembers, then more requests and the throttle's K and maximum
-- rejection rate (K 0: no throttle; see infuse.Throttle). Growth is
-- counted in the bucket Redis's clock says is current. The fleet's window
-- trips the breaker when it holds MinCalls calls, its failure rate reaches
-- FailureRate or its slow-call rate SlowCallRate (0: off), and
-- FleetMinMembers distinct members have reported failures in it. Each
-- answer is the breaker's reply followed by the window's calls, failures,
-- slow calls and requests (none when the breaker is not in that closed
-- generation).
local ARGS = {'member:str'}
local ITEM_ARGS = {'from_inc:inc', 'from_gen:gen', 'calls:count', 'failures:count', 'slow:count', 'bucket_ms:length',
                   'buckets:count', 'failure_rate:rate', 'slow_rate:rate', 'min_calls:count', 'min_members:count',
                   'requests:count', 'throttle_k:decimal', 'throttle_max:decimal'}

local B, j = bucket()
local member
member, j = take(j, ARGS)
member = member.member
-- Every item is read (and so checked) before any is merged.
local items = {}
while j <= #ARGV do
  local c, w
  c, j = ctx(B, j)
  w, j = take(j, ITEM_ARGS)
  items[#items + 1] = {c = c, w = w}
end
local now = now_ms()
local out = {}
for _, item in ipairs(items) do
  local c, a = item.c, item.w
  local r, corrupt, fresh = load(B, c, now)
  if r.st ~= 0 or not is_from(c, r, fresh, a.from_inc, a.from_gen) then
    out[#out + 1] = finish(B, c, r, now, corrupt, fresh)
  else
    local dc, df, ds = a.calls, a.failures, a.slow
    local bms, nb = a.bucket_ms, a.buckets
    local b = math.floor(now / bms)
    local w = c.w .. r.i .. ':' .. fmt(r.g)
    local life = bms * (nb + 1)
    if dc > 0 then fix('HINCRBY', w, 'c' .. fmt(b), 'c' .. fmt(b), dc) end
    if df > 0 then
      fix('HINCRBY', w, 'f' .. fmt(b), 'f' .. fmt(b), df)
      local m = w .. ':m' .. fmt(b)
      fix('SADD', m, nil, member)
      redis.call('PEXPIRE', m, life)
    end
    if ds > 0 then fix('HINCRBY', w, 's' .. fmt(b), 's' .. fmt(b), ds) end
    local dr, tk, tmax = a.requests, a.throttle_k, a.throttle_max
    if dr > 0 then fix('HINCRBY', w, 'r' .. fmt(b), 'r' .. fmt(b), dr) end
    local calls, fails, slow, reqs, old = 0, 0, 0, 0, {}
    local kv = fix('HGETALL', w, nil)
    for x = 1, #kv, 2 do
      -- Only fields this script writes count: a kind, a bucket written
      -- as fmt writes it (no "007", no "7.0": no field aliases another),
      -- of this window, and a count a bucket can hold; the rest go. So
      -- the sums stay below nb * CMAX, exact in Lua's numbers.
      local kind, digits = string.match(kv[x], '^([cfsr])(%d+)$')
      local at, v = int(digits, 0, TMAX), int(kv[x + 1], 0, CMAX)
      if at == nil or fmt(at) ~= digits or v == nil or at <= b - nb or at > b then
        old[#old + 1] = kv[x]
      elseif kind == 'c' then calls = calls + v
      elseif kind == 'f' then fails = fails + v
      elseif kind == 's' then slow = slow + v
      elseif kind == 'r' then reqs = reqs + v
      end
    end
    if #old > 0 then redis.call('HDEL', w, unpack(old)) end
    redis.call('PEXPIRE', w, life)
    fails, slow = math.min(fails, calls), math.min(slow, calls)
    local line = fmt(calls) .. ' ' .. fmt(fails) .. ' ' .. fmt(slow) .. ' '
    if tonumber(tk) > 0 then line = line .. fmt(reqs) .. ' ' .. tk .. ' ' .. tmax .. ' ' end
    if fix('HSET', B.win, nil, c.kn, line .. fmt(now + life)) == 1 then
      redis.call('PEXPIRE', B.win, c.ttl)
    end
    sweep(B.win, now, c.ttl, nil, 0)
    local fr, sr, mincalls, minmembers = a.failure_rate, a.slow_rate, a.min_calls, a.min_members
    local trip = r.md ~= 2 and calls > 0 and calls >= mincalls and
      ((fr > 0 and fails >= fr * calls) or (sr > 0 and slow >= sr * calls))
    if trip and minmembers > 1 then
      local seen, n = {}, 0
      for i = b - nb + 1, b do
        local ms = redis.pcall('SMEMBERS', w .. ':m' .. fmt(i))
        if ms.err then
          redis.call('DEL', w .. ':m' .. fmt(i))
        else
          for _, m in ipairs(ms) do
            if not seen[m] then seen[m], n = true, n + 1 end
          end
        end
      end
      trip = n >= minmembers
    end
    local rep
    if trip then
      local f = r.f
      local why = CAUSE.slow_call_rate
      if fr > 0 and fails >= fr * calls then why = CAUSE.failure_rate end
      next_gen(c, r, 1, now, why)
      r.f = f
      save(B, c, r, now, 0)
      changed(B, c)
      rep = reply(r, now, 0, 1, corrupt)
    else
      rep = finish(B, c, r, now, corrupt, fresh)
    end
    rep[#rep + 1] = calls
    rep[#rep + 1] = fails
    rep[#rep + 1] = slow
    rep[#rep + 1] = reqs
    out[#out + 1] = rep
  end
end
return out
