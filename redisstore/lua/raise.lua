-- raise lifts the generation (from_inc, from_gen) to to_gen under a new
-- incarnation: a member that has seen a higher generation than Redis now
-- holds (Redis lost its data, or a member seeded it without knowing) moves
-- the state above everything it has seen, so that every member adopts it.
-- With restore 1, if Redis holds an idle state there (a seed after a
-- loss, which decided nothing), the member's own state (its seed: open,
-- forced) takes its place: an open breaker stays open through a loss.
-- With restore 2 (the member's state is closed after a recovery), an idle
-- state that records no close takes the seed's: a ramp goes on from the
-- close it counts from.
local ARGS = {'from_inc:inc', 'from_gen:gen', 'to_gen:gen', 'restore:choice'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
local chg = 0
local to = tonumber(a.to_gen)
if is_from(c, r, false, a.from_inc, a.from_gen) and r.g < to then
  if a.restore == 1 and is_idle(r) then
    local rs = r.rs
    r = seeded(c, now)
    r.rs = rs
  elseif a.restore == 2 and is_idle(r) and r.oa == 0 then
    r.oa = seeded(c, now).oa
  end
  r.g, r.i, r.mk = to, c.nonce, ''
  redis.call('DEL', c.t) -- the permits of the old generation are void
  save(B, c, r, now, 0)
  changed(B, c)
  chg = 1
end
return reply(r, now, trials(c, r, now), chg, 0)
