-- acquire grants a trial lease of lease_ms, numbered permit (the caller's
-- random number, so that it can give the lease back even if the answer
-- never came; "0": the script numbers it): moving an open breaker whose
-- open period (open_ms) has passed to half-open, and while fewer than
-- max_calls (HalfOpenMaxCalls) leases are held. Leases past their expiry
-- are dropped first, and then expiry says what happens: 0 the breaker
-- opens again, 1 it closes, 2 nothing more. Never while forced open.
-- extra is the permit id, 0 when none was granted.
local ARGS = {'open_ms:ms', 'max_calls:count', 'lease_ms:ms', 'expiry:choice', 'permit:serial'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if r.md == 1 then return finish(B, c, r, now, corrupt, fresh) end
local chg = 0
if r.st == 1 then
  if now < r.oa + a.open_ms then return finish(B, c, r, now, corrupt, fresh) end
  next_gen(c, r, 2, now, CAUSE.open_period_over)
  chg = 1
end
if r.st ~= 2 then return finish(B, c, r, now, corrupt, fresh) end
fix('ZREMRANGEBYSCORE', c.t, nil, '(' .. fmt(now + c.ttl), '+inf')
if fix('ZCOUNT', c.t, nil, '-inf', now) > 0 then
  redis.call('ZREMRANGEBYSCORE', c.t, '-inf', now)
  if a.expiry ~= 2 then
    next_gen(c, r, a.expiry == 0 and 1 or 0, now, CAUSE.trial_expired)
    if r.st == 1 then r.f = 1 end
    save(B, c, r, now, 0)
    changed(B, c)
    return reply(r, now, 0, 1, corrupt)
  end
end
local n = trials(c, r, now)
local id = 0
local mine = int(a.permit, 1, 9007199254740992)
if mine ~= nil and redis.call('ZSCORE', c.t, mine) then
  id = mine -- this request's own lease: run again by the client after a lost answer
elseif n < a.max_calls then
  r.ps = r.ps + 1
  id = mine or r.ps -- the caller's, so that it can give it back unanswered
  redis.call('ZADD', c.t, now + a.lease_ms, id)
  n = n + 1
end
save(B, c, r, now, n)
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, n, chg, corrupt, id)
