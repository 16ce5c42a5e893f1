-- reap drops the registrations of member, which stopped sending
-- heartbeats.
local ARGS = {'member:str'}

local B, j = bucket()
local a = args(j, ARGS)
local reg = B.base .. 'r:' .. a.member
local names = redis.pcall('SMEMBERS', reg)
if type(names) == 'table' and not names.err then
  for _, kn in ipairs(names) do
    if fix('HINCRBY', B.nmem, kn, kn, -1) <= 0 then redis.call('HDEL', B.nmem, kn) end
  end
end
redis.call('DEL', reg)
return 1
