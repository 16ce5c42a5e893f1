-- release takes back the leases permits without an outcome, whatever the
-- generation (a lease's number is its holder's random choice: a release
-- granted while the answer was lost knows no generation; from_inc and
-- from_gen only tell a reader of the command which generation the caller
-- knew). It restores nothing: a lease in a state Redis lost is gone with
-- it.
local ARGS = {'from_inc:inc', 'from_gen:gen', 'permits:serial...'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
if r.st == 2 then
  for _, p in ipairs(a.permits) do fix('ZREM', c.t, nil, p) end
end
return reply(r, now, trials(c, r, now), 0, 0)
