-- setmode forces mode (1 open, 2 disabled) or releases it (0), starting a
-- new generation, if the generation is (from_inc, from_gen) ("0": any).
local ARGS = {'mode:choice', 'from_inc:inc', 'from_gen:gen'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if not (a.from_gen == '0' or is_from(c, r, fresh, a.from_inc, a.from_gen)) then
  return finish(B, c, r, now, corrupt, fresh)
end
local f = r.f
if a.mode == 1 then
  next_gen(c, r, 1, now, CAUSE.operator)
  r.f = f
else
  next_gen(c, r, 0, now, CAUSE.operator)
end
r.md = a.mode
save(B, c, r, now, 0)
changed(B, c)
return reply(r, now, 0, 1, corrupt)
