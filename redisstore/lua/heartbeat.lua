-- heartbeat records that member is alive (KEYS[1]: the namespace's
-- members, scored by Redis ms, kept ttl ms) and claims, for reaping, up
-- to eight members silent for stale_ms (the reaper removes them). The
-- reply is {1 if the member was not listed (it must register again),
-- claimed...}.
local ARGS = {'member:str', 'ttl:ms', 'stale_ms:ms'}

local a = args(1, ARGS)
local now = now_ms()
local added = redis.pcall('ZADD', KEYS[1], now, a.member)
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[1])
  added = redis.call('ZADD', KEYS[1], now, a.member)
end
redis.call('PEXPIRE', KEYS[1], a.ttl)
local out = {added}
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - a.stale_ms, 'LIMIT', 0, 8)
for _, m in ipairs(stale) do
  -- claimed for 5s: the claimer removes it once reaped; if it dies first,
  -- another claims it again
  redis.call('ZADD', KEYS[1], now - a.stale_ms + 5000, m)
  out[#out + 1] = m
end
return out
