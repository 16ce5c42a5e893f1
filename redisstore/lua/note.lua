-- note records, for operators, what the members compute for generation
-- (from_inc, from_gen): while open, the open period op (ms); while closed
-- after a recovery, their ramp (see rampNote).
local ARGS = {'from_inc:inc', 'from_gen:gen', 'op:ms'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
if (r.st == 1 or (r.st == 0 and r.oa > 0 and r.md == 0)) and is_from(c, r, false, a.from_inc, a.from_gen) then
  r.op = a.op
  save(B, c, r, now, 0)
end
return reply(r, now, trials(c, r, now), 0, 0)
