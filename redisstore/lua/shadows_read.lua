-- shadows_read answers {n, name, candidate, ...} for the shadows hash
-- KEYS[1], n the number of its shadows: every one if there are at most
-- max_shadows, those of at most max_size bytes with a name of at most
-- max_name (the others left unread in Redis); {n} alone when there are
-- more. The hash's field "" is its version, no shadow.
local ARGS = {'max_shadows:count', 'max_size:count', 'max_name:count'}

local a = args(1, ARGS)
local h = KEYS[1]
local n = redis.pcall('HLEN', h)
if type(n) ~= 'number' then return {0} end
if redis.call('HEXISTS', h, '') == 1 then n = n - 1 end
local out = {n}
if n > a.max_shadows then return out end
local names = redis.call('HKEYS', h)
for _, name in ipairs(names) do
  if name ~= '' and #name <= a.max_name and redis.call('HSTRLEN', h, name) <= a.max_size then
    out[#out + 1] = name
    out[#out + 1] = redis.call('HGET', h, name)
  end
end
return out
