-- read reads the breakers knames of one bucket, as they are: nothing is
-- restored or renewed. One reply each, in order.
local ARGS = {'knames:str...'}

local B, j = bucket()
local a = args(j, ARGS)
local now = now_ms()
local out = {}
for _, kn in ipairs(a.knames) do
  local c = {k = B.base .. 'b:' .. kn, kn = kn}
  c.t = c.k .. ':t'
  local r, corrupt = read(c)
  if r == nil then out[#out + 1] = gone(B, c, now, corrupt) else out[#out + 1] = reply(r, now, trials(c, r, now), 0, 0) end
end
return out
