package redisstore

import "github.com/redis/go-redis/v9"

// The state of one breaker is a hash at KEYS[1] and its trial leases a
// sorted set at KEYS[2] (member: permit id, score: expiry in Redis
// milliseconds). Both keys carry the breaker's name as a hash tag, so they
// live in one slot and every script runs on one Cluster node.
//
// Hash fields: st (0 closed, 1 open, 2 half-open), g (generation), oa (when
// it opened, Redis ms), f (merged run of failures; the tripping run while
// open), s (successful trials), ps (last permit id), md (forced mode: 0
// none, 1 forced open, 2 disabled), tr (times opened in a row).
//
// Every script reads Redis's clock (TIME), so no host's clock is compared
// with another's. ARGV[1] is the pub/sub channel, ARGV[2] the breaker's
// name, ARGV[3] the keys' TTL in ms, ARGV[4] who runs the script (the
// binding's id, which messages carry so it can skip its own), ARGV[5] a
// deadline in Redis ms (0: none): a script that runs past it, because the
// caller stopped waiting, changes nothing, so an operation given up on
// never lands late. Scripts that find no state return
// {-1}; the store then seeds it (bind) and tries again.
//
// A reply is {st, g, oa, f, s, trials, now, changed, corrupt, extra, md, tr}.
const luaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- load returns the state, or nil when there is none. Anything that is not
-- a well-formed state (another type, foreign fields) is deleted and
-- reported as corrupt: it is treated as absent.
local function load(key)
  local typ = redis.call('TYPE', key)['ok']
  if typ == 'none' then return nil, 0 end
  if typ ~= 'hash' then redis.call('DEL', key) return nil, 1 end
  local v = redis.call('HMGET', key, 'st', 'g', 'oa', 'f', 's', 'ps', 'md', 'tr')
  local st, g, md = tonumber(v[1]), tonumber(v[2]), tonumber(v[7]) or 0
  if st == nil or g == nil or (st ~= 0 and st ~= 1 and st ~= 2) or g < 1 or g ~= math.floor(g)
     or (md ~= 0 and md ~= 1 and md ~= 2) then
    redis.call('DEL', key)
    return nil, 1
  end
  return {st = st, g = g, oa = tonumber(v[3]) or 0, f = tonumber(v[4]) or 0,
          s = tonumber(v[5]) or 0, ps = tonumber(v[6]) or 0, md = md, tr = tonumber(v[8]) or 0}, 0
end

local function save(r)
  local ttl = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'st', r.st, 'g', r.g, 'oa', r.oa, 'f', r.f, 's', r.s, 'ps', r.ps, 'md', r.md, 'tr', r.tr)
  redis.call('PEXPIRE', KEYS[1], ttl)
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
end

-- trials counts the leases not yet expired; only acquire drops the expired
-- ones, doing what the breaker's TrialExpiry says.
local function trials(now)
  return redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%d', now), '+inf')
end

-- next_gen starts a new generation in state st, with no forced mode; the
-- run of trips grows with each opening and ends when the breaker closes.
local function next_gen(r, st, now)
  r.st, r.g, r.f, r.s, r.md = st, r.g + 1, 0, 0, 0
  if st == 1 then r.oa, r.tr = now, r.tr + 1 else r.oa = 0 end
  if st == 0 then r.tr = 0 end
  redis.call('DEL', KEYS[2])
end

-- late reports whether the caller's deadline has passed.
local function late(now)
  local d = tonumber(ARGV[5])
  return d > 0 and now > d
end

local function fmt(n) return string.format('%d', n) end

local function publish(r, now, n)
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\n' .. ARGV[4] .. '\n' .. fmt(r.st) .. ' ' .. fmt(r.g) .. ' ' .. fmt(r.oa) .. ' ' ..
    fmt(r.f) .. ' ' .. fmt(r.s) .. ' ' .. fmt(n) .. ' ' .. fmt(now) .. ' ' .. fmt(r.md) .. ' ' .. fmt(r.tr))
end

local function reply(r, now, n, changed, corrupt, extra)
  return {r.st, r.g, r.oa, r.f, r.s, n, now, changed, corrupt, extra or 0, r.md, r.tr}
end

-- unchanged answers with the state as it is, its TTL renewed.
local function unchanged(r, now, corrupt)
  save(r)
  return reply(r, now, trials(now), 0, corrupt)
end
`

// bind seeds the state where there is none. ARGV[6]: state to seed;
// ARGV[7]: the lowest generation to seed (so a store that lost its data
// never hands out a generation a member has seen); ARGV[8]: for an open
// seed, how long ago it opened (ms); ARGV[9]: the run of failures to seed;
// ARGV[10], ARGV[11]: the mode and trips to seed.
var bindScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
local now = now_ms()
local changed = 0
if r == nil then
  r = {st = tonumber(ARGV[6]), g = math.max(tonumber(ARGV[7]), 1), oa = 0, f = tonumber(ARGV[9]), s = 0, ps = 0,
       md = tonumber(ARGV[10]), tr = tonumber(ARGV[11])}
  if r.st == 1 then r.oa = now - tonumber(ARGV[8]) end
  redis.call('DEL', KEYS[2])
  changed = 1
end
save(r)
local n = trials(now)
if changed == 1 then publish(r, now, n) end
return reply(r, now, n, changed, corrupt)
`)

// report merges a batch of closed-state outcomes of generation ARGV[6]:
// ARGV[7] failures before the batch's first success (all of them if it has
// none), ARGV[8] 1 if it has a success, ARGV[9] failures after its last
// success; ARGV[10] FailMax. The merged run that reaches FailMax trips.
var reportScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if r.g ~= tonumber(ARGV[6]) or r.st ~= 0 then
  save(r)
  return reply(r, now, 0, 0, corrupt)
end
local before, saw, after, failmax = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local f0, trip = r.f, false
if r.md == 2 then
  r.f = r.f + before
  if saw == 1 then r.f = after end
elseif r.f + before >= failmax then
  trip = true
elseif saw == 1 then
  r.f = after
  trip = r.f >= failmax
else
  r.f = r.f + before
end
local changed = 0
if trip then
  next_gen(r, 1, now)
  r.f = failmax
  changed = 1
end
save(r)
if changed == 1 or r.f ~= f0 then publish(r, now, 0) end
return reply(r, now, 0, changed, corrupt)
`)

// transition commits a move to state ARGV[7] if the generation is ARGV[6]
// (0: any). ARGV[8] is the run of failures of a trip.
var transitionScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if late(now) then return unchanged(r, now, corrupt) end
local from = tonumber(ARGV[6])
if from ~= 0 and (from ~= r.g or r.md ~= 0) then return unchanged(r, now, corrupt) end
next_gen(r, tonumber(ARGV[7]), now)
if r.st == 1 then r.f = tonumber(ARGV[8]) end
save(r)
publish(r, now, 0)
return reply(r, now, 0, 1, corrupt)
`)

// acquire grants a trial lease of ARGV[8] ms: moving an open breaker whose
// open period (ARGV[6] ms) has passed to half-open, and while fewer than
// HalfOpenMaxCalls (ARGV[7]) leases are held. Leases past their expiry are
// dropped first, and then ARGV[9] says what happens: 0 the breaker opens
// again, 1 it closes, 2 nothing more. Never while forced open. extra is
// the permit id, 0 when none was granted.
var acquireScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if late(now) or r.md == 1 then return unchanged(r, now, corrupt) end
local changed = 0
if r.st == 1 then
  if now < r.oa + tonumber(ARGV[6]) then return unchanged(r, now, corrupt) end
  next_gen(r, 2, now)
  changed = 1
end
if r.st ~= 2 then return unchanged(r, now, corrupt) end
if redis.call('ZCOUNT', KEYS[2], '-inf', now) > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local action = tonumber(ARGV[9])
  if action ~= 2 then
    next_gen(r, action == 0 and 1 or 0, now)
    if r.st == 1 then r.f = 1 end
    save(r)
    publish(r, now, 0)
    return reply(r, now, 0, 1, corrupt)
  end
end
local n = trials(now)
local id = 0
if n < tonumber(ARGV[7]) then
  r.ps = r.ps + 1
  id = r.ps
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[8]), id)
  n = n + 1
end
save(r)
if changed == 1 then publish(r, now, n) end
return reply(r, now, n, changed, corrupt, id)
`)

// settle takes back lease ARGV[7] of generation ARGV[6] with its trial's
// outcome ARGV[8] (1 success, 2 failure); ARGV[9] is SuccessThreshold.
var settleScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if late(now) then return unchanged(r, now, corrupt) end
local n = trials(now)
if r.g ~= tonumber(ARGV[6]) or r.st ~= 2 or redis.call('ZREM', KEYS[2], ARGV[7]) == 0 then
  save(r)
  return reply(r, now, n, 0, corrupt)
end
n = n - 1
local changed = 0
if tonumber(ARGV[8]) == 2 then
  next_gen(r, 1, now)
  r.f = 1
  changed = 1
else
  r.s = r.s + 1
  if r.s >= tonumber(ARGV[9]) then
    next_gen(r, 0, now)
    changed = 1
  end
end
if changed == 1 then n = 0 end
save(r)
publish(r, now, n)
return reply(r, now, n, changed, corrupt)
`)

// release takes back lease ARGV[7] of generation ARGV[6] without an
// outcome.
var releaseScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if r.g == tonumber(ARGV[6]) and r.st == 2 then redis.call('ZREM', KEYS[2], ARGV[7]) end
save(r)
return reply(r, now, trials(now), 0, corrupt)
`)

// refresh reads the state and renews the keys' TTL: the periodic safety
// net for a lost pub/sub message. It also records, for operators, that
// member ARGV[6] was seen (KEYS[4], member to Redis ms) and, when open, the
// open period ARGV[7] (ms) it computes (field op).
var refreshScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
redis.call('HSET', KEYS[4], ARGV[6], now)
redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[3]))
if r.st == 1 and tonumber(ARGV[7]) > 0 then redis.call('HSET', KEYS[1], 'op', ARGV[7]) end
return unchanged(r, now, corrupt)
`)

// setMode forces mode ARGV[6] (1 open, 2 disabled) or releases it (0),
// starting a new generation.
var setModeScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if late(now) then return unchanged(r, now, corrupt) end
local md = tonumber(ARGV[6])
local f = r.f
if md == 1 then
  next_gen(r, 1, now)
  r.f = f
else
  next_gen(r, 0, now)
end
r.md = md
save(r)
publish(r, now, 0)
return reply(r, now, 0, 1, corrupt)
`)

// window merges a member's window growth into the fleet's window, in
// generation ARGV[6] (closed): ARGV[7..9] more calls, failures and slow
// calls, counted in the current bucket of ARGV[10] ms; the window is the
// last ARGV[11] buckets. KEYS[3] is the window's hash (one per generation,
// so a new generation starts empty), and the members that reported failures
// in a bucket are a set beside it. The fleet's window trips the breaker
// when it holds ARGV[14] calls, its failure rate reaches ARGV[12] or its
// slow-call rate ARGV[13] (0: off), and ARGV[15] distinct members (ARGV[16]
// is this one) have reported failures in it.
var windowScript = redis.NewScript(luaPrelude + `
local r, corrupt = load(KEYS[1])
if r == nil then return {-1} end
local now = now_ms()
if r.g ~= tonumber(ARGV[6]) or r.st ~= 0 then return unchanged(r, now, corrupt) end
local bms, n = tonumber(ARGV[10]), tonumber(ARGV[11])
local b = math.floor(now / bms)
local w = KEYS[3] .. ':' .. fmt(r.g)
local life = bms * (n + 1)
local dc, df, ds = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if dc > 0 then redis.call('HINCRBY', w, 'c' .. fmt(b), dc) end
if df > 0 then
  redis.call('HINCRBY', w, 'f' .. fmt(b), df)
  local m = w .. ':m' .. fmt(b)
  redis.call('SADD', m, ARGV[16])
  redis.call('PEXPIRE', m, life)
end
if ds > 0 then redis.call('HINCRBY', w, 's' .. fmt(b), ds) end
redis.call('HDEL', w, 'c' .. fmt(b - n), 'f' .. fmt(b - n), 's' .. fmt(b - n))
redis.call('PEXPIRE', w, life)
local calls, fails, slow, sets = 0, 0, 0, {}
for i = b - n + 1, b do
  local v = redis.call('HMGET', w, 'c' .. fmt(i), 'f' .. fmt(i), 's' .. fmt(i))
  calls = calls + (tonumber(v[1]) or 0)
  fails = fails + (tonumber(v[2]) or 0)
  slow = slow + (tonumber(v[3]) or 0)
  sets[#sets + 1] = w .. ':m' .. fmt(i)
end
local fr, sr, mincalls, minmembers = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local trip = r.md ~= 2 and calls > 0 and calls >= mincalls and
  ((fr > 0 and fails >= fr * calls) or (sr > 0 and slow >= sr * calls))
if trip and minmembers > 1 then
  trip = #redis.call('SUNION', unpack(sets)) >= minmembers
end
-- The reply carries the fleet's window after the standard twelve values.
local function windowed(rep)
  rep[#rep + 1] = calls
  rep[#rep + 1] = fails
  rep[#rep + 1] = slow
  return rep
end
if not trip then return windowed(unchanged(r, now, corrupt)) end
local f = r.f
next_gen(r, 1, now)
r.f = f
save(r)
publish(r, now, 0)
return windowed(reply(r, now, 0, 1, corrupt))
`)
