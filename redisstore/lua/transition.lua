-- transition commits a move to state to if the generation is (from_inc,
-- from_gen) and no mode is forced (or manual: an operator's transition,
-- which ends a forced mode); from_gen "0" commits a manual transition from
-- any generation. failures is the run of failures of a trip. shift_ms,
-- unless 0, puts an opening that many ms from now (a hold, which sets when
-- the open period ends: see binding.holdShift), or, negative for a
-- recovery, the close that many ms ago (a close made while Redis was out
-- of reach, pushed later: the ramp runs from it). cause is why (a
-- storage.Cause), which the state records with its maker.
local ARGS = {'from_inc:inc', 'from_gen:gen', 'to:choice', 'failures:count', 'manual:flag', 'shift_ms:span',
  'cause:cause'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if not (a.from_gen == '0' or ((r.md == 0 or a.manual) and is_from(c, r, fresh, a.from_inc, a.from_gen))) then
  return finish(B, c, r, now, corrupt, fresh)
end
local was_open, tr = r.st == 1, r.tr
next_gen(c, r, a.to, now, a.cause)
if r.st == 1 then
  r.f = a.failures
  if a.shift_ms ~= 0 then
    r.oa = math.max(now + a.shift_ms, 0)
    if was_open then r.tr = tr end -- a hold extending an open period is no new trip
  end
elseif r.st == 0 and r.oa > 0 and a.shift_ms < 0 then
  r.oa = math.max(now + a.shift_ms, 1)
end
save(B, c, r, now, 0)
changed(B, c)
return reply(r, now, 0, 1, corrupt)
