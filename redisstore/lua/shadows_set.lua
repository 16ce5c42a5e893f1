-- shadows_set sets (data not empty) or deletes the shadow name of the
-- shadows hash KEYS[1], and bumps its version (field ""); a key of
-- another type is replaced.
local ARGS = {'name:str', 'data:str'}

local a = args(1, ARGS)
local h = KEYS[1]
if redis.call('TYPE', h)['ok'] ~= 'hash' then redis.call('DEL', h) end
if a.data == '' then redis.call('HDEL', h, a.name) else redis.call('HSET', h, a.name, a.data) end
local v = redis.pcall('HINCRBY', h, '', 1)
if type(v) ~= 'number' then redis.call('HSET', h, '', 1) end
return 1
