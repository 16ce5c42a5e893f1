package redisstore

import "github.com/redis/go-redis/v9"

// The scripts. See layout.go for the keys and ARCHITECTURE.md for why they
// are what they are; in short:
//
// A breaker's state is a hash (fields below) with its trial leases in a
// sorted set beside it. Breakers are spread over a fixed number of buckets;
// every key of a bucket (its breakers' keys and its own) carries the
// bucket's hash tag, so a script that changes a breaker can also record the
// change in its bucket, atomically, on one Cluster node.
//
// Each bucket keeps:
//   - seq: a counter of changes (a transition, a forced mode, a new
//     identity), "<epoch>:<n>", the epoch new whenever the counter starts
//     again; and log: a sorted set of the breakers that changed, scored
//     by the seq of their last change, capped at logCap entries (the
//     member "" scores the highest seq dropped, so a reader that fell
//     behind the cap knows it). A member that polls one seq per bucket
//     learns, at O(1) cost, whether anything changed, and reads only
//     what did.
//   - sum: a summary line per breaker (what the operators' listing shows)
//     with the time its key expires; win: the fleet window's totals per
//     windowed breaker; nmem: how many live members have each breaker
//     bound, kept from the members' registration sets (r:<member>).
//
// Every change is published as a hint, "h <bucket> <epoch> <n>": the message
// says only where to look; members read what changed from Redis.
//
// Hash fields: st (0 closed, 1 open, 2 half-open), g (generation), oa (when
// it opened, Redis ms; while closed, when it closed from open or
// half-open, 0 for a close from closed), f (merged run of failures; the
// tripping run while open), s (successful trials), ps (last permit id), md
// (forced mode: 0 none, 1 forced open, 2 disabled), tr (times opened in a
// row), i (the incarnation: "" until Redis has lost or replaced the state
// once), rs (how many times a success has reset a run of failures), op
// (for operators: the open period the members compute; while closed, the
// members' recovery ramp, see rampNote), mk ("<g>:<binding>:<from>": the
// binding whose script made generation g and the state it left, so that
// each member knows, whichever way it learns of a transition, whether it
// made it). Every field is validated on
// every read; a state with an invalid field is replaced, and reported.
// Fields infuse does not know are left alone.
//
// A closed state with no forced mode is idle: its key expires IdleTTL
// after its last write and nothing renews it (a run of failures that sees
// no outcome for that long is forgotten). Every script that needs the state restores it, when Redis has none,
// from the caller's last confirmed view (the seed arguments): an idle state
// as it was (same incarnation and generation, so no member sees a change),
// anything else under a new incarnation one generation up, published as a
// change, so that every member adopts it.

// luaPrelude holds what every script shares.
//
// Bucket scripts take KEYS seq, log, sum, win, nmem and ARGV chan, bucket,
// base (the bucket's key prefix). Scripts for one breaker take its state
// key as KEYS[6] and, from ARGV[4], its context: kname (its name as it
// appears in keys), TTL ms, idle TTL ms, deadline (Redis ms; 0: none), a
// nonce (the incarnation to use if it must make one), the seed: i, g,
// st, ms since it opened (closed: since it closed from open or half-open,
// 0 for none), f, md, tr; and the caller's binding id, recorded as the
// maker of a transition the script makes.
const luaPrelude = `
local GMAX = 8796093022208
local CMAX = 2147483648
local TMAX = 281474976710656
local LOGCAP = 1024
local FIELDS = {'st', 'g', 'oa', 'f', 's', 'ps', 'md', 'tr', 'i', 'rs', 'op', 'mk'}

-- now_ms is Redis's clock, in ms, read once: a script runs at one instant.
local NOW = nil
local function now_ms()
  if NOW == nil then
    local t = redis.call('TIME')
    NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW
end

-- AHEAD is how far ahead of now an opening may be stored (a hold's: a
-- day, the longest MaxHoldOpen); one further ahead is garbage.
local AHEAD = 86400000

local function fmt(n) return string.format('%d', n) end

-- int is v as an integer in [lo, hi), or nil.
local function int(v, lo, hi)
  local n = tonumber(v)
  if n == nil or n ~= n or n < lo or n >= hi or n ~= math.floor(n) then return nil end
  return n
end

-- fix runs a command on a key of the bucket; if the key holds something
-- of another type, or a field a value the command cannot use, the key
-- (or field) is dropped and the command run again.
local function fix(cmd, key, field, ...)
  local v = redis.pcall(cmd, key, ...)
  if type(v) == 'table' and v.err then
    if field ~= nil and string.find(v.err, 'WRONGTYPE', 1, true) == nil then
      redis.call('HDEL', key, field)
    else
      redis.call('DEL', key)
    end
    v = redis.call(cmd, key, ...)
  end
  return v
end

local function bucket()
  return {seq = KEYS[1], log = KEYS[2], sum = KEYS[3], win = KEYS[4], nmem = KEYS[5], chain = ARGV[3] .. 'chain',
          chan = ARGV[1], idx = ARGV[2], base = ARGV[3]}
end

-- ctx is one breaker's context, from a[j] on (see above).
local function ctx(B, a, j)
  local k = B.base .. 'b:' .. a[j]
  return {k = k, t = k .. ':t', w = k .. ':w:', kn = a[j],
          ttl = tonumber(a[j + 1]), idle = tonumber(a[j + 2]), dl = tonumber(a[j + 3]), nonce = a[j + 4],
          seed = {i = a[j + 5], g = tonumber(a[j + 6]), gs = a[j + 6], st = tonumber(a[j + 7]), el = tonumber(a[j + 8]),
                  f = tonumber(a[j + 9]), md = tonumber(a[j + 10]), tr = tonumber(a[j + 11])},
          me = a[j + 12]}
end
local CTXN = 13

-- parse validates the fields HMGET returned; nil if any is invalid.
local function parse(v)
  local r = {st = int(v[1], 0, 3), g = int(v[2], 1, GMAX), oa = int(v[3] or 0, 0, TMAX), f = int(v[4] or 0, 0, CMAX),
             s = int(v[5] or 0, 0, CMAX), ps = int(v[6] or 0, 0, GMAX), md = int(v[7] or 0, 0, 3),
             tr = int(v[8] or 0, 0, CMAX), i = v[9] or '', rs = int(v[10] or 0, 0, GMAX), op = int(v[11] or 0, 0, TMAX)}
  if r.st == nil or r.g == nil or r.oa == nil or r.f == nil or r.s == nil or r.ps == nil or r.md == nil or
     r.tr == nil or r.rs == nil or r.op == nil or #r.i > 32 or string.find(r.i, '^[0-9a-z]*$') == nil or
     r.oa > now_ms() + AHEAD then
    return nil
  end
  -- mk: "<g>:<binding>:<from>:<at>", the binding whose script made
  -- generation g, the state it left and when (Redis ms); it tells of
  -- generation g only (an older version of infuse moves the generation
  -- without writing it). Anything else: unknown.
  r.mk, r.mf, r.ma = '', 0, 0
  if type(v[12]) == 'string' then
    local g, who, from, at = string.match(v[12], '^(%d+):([0-9a-z.]+):([012]):(%d+)$')
    at = int(at, 0, TMAX)
    if g == fmt(r.g) and #who <= 64 and at ~= nil then r.mk, r.mf, r.ma = who, tonumber(from), at end
  end
  return r
end

-- read returns the state, or nil and whether something that is not a
-- state was found.
local function read(c)
  local v = redis.pcall('HMGET', c.k, unpack(FIELDS))
  if v.err then return nil, 1 end
  local any = false
  for j = 1, #FIELDS do any = any or v[j] end
  if not any then return nil, 0 end
  local r = parse(v)
  if r == nil then return nil, 1 end
  return r, 0
end

local function is_idle(r) return r.st == 0 and r.md == 0 end

local function seeded(c, now)
  local s = c.seed
  local r = {st = s.st, g = s.g, oa = 0, f = s.f, s = 0, ps = 0, md = s.md, tr = s.tr, i = s.i, rs = 0, op = 0, mk = '',
             mf = 0, ma = 0}
  if r.st == 1 then
    r.oa = math.max(now - s.el, 0)
  elseif r.st == 0 and r.md == 0 and s.el > 0 then
    r.oa = math.max(now - s.el, 1) -- a recovery: when it closed
  end
  return r
end

-- summarized is the state the bucket's summary line holds for the
-- breaker, while that line has not expired (or, with expired_too, for a
-- TTL after: lines are swept a TTL after their key expired): what its key
-- held when last written. nil when there is none.
local function summarized(B, c, now, expired_too)
  local line = redis.pcall('HGET', B.sum, c.kn)
  if type(line) ~= 'string' then return nil end
  local f = {}
  for w in string.gmatch(line, '%S+') do f[#f + 1] = w end
  if #f ~= 12 then return nil end
  local x = int(f[12], 0, TMAX)
  if x == nil or (x < now and not expired_too) then return nil end
  local i = f[10]
  if i == '-' then i = '' end
  local r = parse({f[1], f[2], f[3], f[4], f[5], '0', f[7], f[8], i, '0', f[9]})
  if r ~= nil then r.expired, r.ma = x < now, int(f[11], 0, TMAX) or 0 end
  return r
end

-- restore makes the state where read found none (corrupt 0) or garbage
-- (corrupt 1): what the summary line says the key held, if it says
-- something worth keeping (a key lost on its own: evicted, deleted); else
-- the caller's seed. fresh tells a state to announce: a new identity, or
-- one put back.
local function restore(B, c, now, corrupt)
  if corrupt == 1 and redis.call('TYPE', c.k)['ok'] ~= 'hash' then redis.call('DEL', c.k) end
  local r = summarized(B, c, now)
  if r ~= nil and not is_idle(r) then
    return r, true -- as it was: its leases, if any, still hold
  end
  r = seeded(c, now)
  r.seeded = true
  local fresh = corrupt == 1 or not is_idle(r)
  if fresh then
    r.i, r.mk = c.nonce, ''
    r.g = math.min(r.g + 1, GMAX - 1)
    redis.call('DEL', c.t)
  end
  return r, fresh
end

local function load(B, c, now)
  local r, corrupt = read(c)
  if r ~= nil then return r, 0, false end
  local fresh
  r, fresh = restore(B, c, now, corrupt)
  return r, corrupt, fresh
end

-- is_from tells whether generation (fi, fg) is r's: the caller's view of
-- the current generation. A state just made from the caller's own seed
-- under a new identity is the caller's too (one put back from the summary
-- line is no one's but its own generation's).
local function is_from(c, r, fresh, fi, fg)
  if r.i == fi and fmt(r.g) == fg then return true end
  return r.seeded == true and fi == c.seed.i and fg == c.seed.gs
end

local function late(c, now) return c.dl > 0 and now > c.dl end

-- trials counts the leases not yet expired. A lease no member could have
-- taken (one that outlives the state's TTL) is not counted.
local function trials(c, r, now)
  if r.st ~= 2 then return 0 end
  local hi = '+inf'
  if c.ttl ~= nil then hi = now + c.ttl end
  return fix('ZCOUNT', c.t, nil, '(' .. fmt(now), hi)
end

-- sweep drops, one time in eight, a few lines of hash h (the summary or
-- the window totals) whose time (the last number of the line) passed
-- grace ms ago (an expired summary line still tells a member back from a
-- long partition what happened, for a TTL); the cursor lives in field "".
-- Lines that do not parse go too.
local function sweep(h, now, ttl, also, grace)
  if now % 8 ~= 0 then return end
  local cur = redis.pcall('HGET', h, '')
  if type(cur) ~= 'string' then cur = '0' end
  local res = redis.pcall('HSCAN', h, cur, 'COUNT', 8)
  if res.err then res = redis.pcall('HSCAN', h, '0', 'COUNT', 8) end
  if res.err then return end
  redis.call('HSET', h, '', res[1])
  local kv = res[2]
  for j = 1, #kv, 2 do
    if kv[j] ~= '' then
      local at = tonumber(string.match(kv[j + 1], '(%d+)$'))
      if at == nil or at + grace < now then
        redis.call('HDEL', h, kv[j])
        if also ~= nil then redis.pcall('HDEL', also, kv[j]) end
      end
    end
  end
  redis.call('PEXPIRE', h, ttl)
end

-- summarize writes the operators' line for the breaker.
local function summarize(B, c, r, now, n, x)
  local i = r.i
  if i == '' then i = '-' end
  local added = fix('HSET', B.sum, nil, c.kn, fmt(r.st) .. ' ' .. fmt(r.g) .. ' ' .. fmt(r.oa) .. ' ' .. fmt(r.f) .. ' ' ..
    fmt(r.s) .. ' ' .. fmt(n) .. ' ' .. fmt(r.md) .. ' ' .. fmt(r.tr) .. ' ' .. fmt(r.op) .. ' ' .. i .. ' ' ..
    fmt(r.ma or 0) .. ' ' .. fmt(x))
  if added == 1 then redis.call('PEXPIRE', B.sum, c.ttl) end
  sweep(B.sum, now, c.ttl, B.win, c.ttl)
  sweep(B.win, now, c.ttl, nil, 0)
end

local function save(B, c, r, now, n)
  local ttl = c.ttl
  if is_idle(r) then ttl = c.idle end
  local mk = ''
  if r.mk ~= '' then mk = fmt(r.g) .. ':' .. r.mk .. ':' .. fmt(r.mf) .. ':' .. fmt(r.ma) end
  redis.call('HSET', c.k, 'st', r.st, 'g', fmt(r.g), 'oa', fmt(r.oa), 'f', fmt(r.f), 's', fmt(r.s), 'ps', fmt(r.ps),
    'md', r.md, 'tr', fmt(r.tr), 'i', r.i, 'rs', fmt(r.rs), 'op', fmt(r.op), 'mk', mk)
  redis.call('PEXPIRE', c.k, ttl)
  if r.st == 2 then redis.call('PEXPIRE', c.t, ttl) end
  summarize(B, c, r, now, n, now + ttl)
end

-- counter reads the bucket's change counter, "<epoch>:<n>:<token>": the
-- epoch is new whenever the counter starts again (lost, expired,
-- garbage), and the token is new with every change, so a reader never
-- takes a counter that started again, or a history that went back and
-- came forth again (a failover to a replica behind), for one that moved
-- on. nil when there is none (or garbage).
local function counter(B)
  local v = redis.pcall('GET', B.seq)
  if type(v) ~= 'string' then return nil, 0, '' end
  local ep, n, tok = string.match(v, '^([0-9a-z]+):(%d+):([0-9a-z]+)$')
  n = int(n, 0, 9007199254740992)
  if ep == nil or n == nil or #ep > 32 or #tok > 16 then return nil, 0, '' end
  return ep, n, tok
end

-- changed records a change of the breaker in its bucket: the counter, the
-- log of names, the chain of tokens (the last LOGCAP changes' tokens, for
-- readers to check that the change they saw last is still this history's);
-- and publishes the hint.
local function changed(B, c)
  local ep, n = counter(B)
  if ep == nil or n >= 9007199254740991 then
    ep, n = c.nonce, 0
    redis.call('DEL', B.seq, B.log, B.chain)
  end
  n = n + 1
  local tok = string.sub(c.nonce, 1, 8)
  redis.call('SET', B.seq, ep .. ':' .. fmt(n) .. ':' .. tok, 'PX', c.ttl)
  fix('ZADD', B.log, nil, n, c.kn)
  fix('ZREMRANGEBYSCORE', B.chain, nil, n, n) -- another history's change n, if any
  redis.call('ZADD', B.chain, n, fmt(n) .. ':' .. tok)
  if n % 64 == 0 then
    local size = redis.call('ZCARD', B.log)
    if size > LOGCAP then
      local cut = redis.call('ZRANGE', B.log, size - LOGCAP - 1, size - LOGCAP - 1, 'WITHSCORES')
      redis.call('ZREMRANGEBYRANK', B.log, 0, size - LOGCAP - 1)
      redis.call('ZADD', B.log, cut[2], '')
    end
    redis.call('ZREMRANGEBYSCORE', B.chain, '-inf', n - LOGCAP)
  end
  redis.call('PEXPIRE', B.log, c.ttl)
  redis.call('PEXPIRE', B.chain, c.ttl)
  redis.call('PUBLISH', B.chan, 'h ' .. B.idx .. ' ' .. ep .. ' ' .. fmt(n) .. ' ' .. tok)
end

-- next_gen starts a new generation in state st, with no forced mode; the
-- run of trips grows with each opening and ends when the breaker closes.
local function next_gen(c, r, st, now)
  local recovers = st == 0 and r.st ~= 0
  r.mf, r.mk, r.ma = r.st, c.me or '', now
  r.st, r.g, r.f, r.s, r.md, r.op = st, math.min(r.g + 1, GMAX - 1), 0, 0, 0, 0
  if st == 1 then
    r.oa, r.tr = now, math.min(r.tr + 1, CMAX - 1)
  elseif recovers then
    r.oa = now -- when it closed: a recovery ramp counts from it
  else
    r.oa = 0
  end
  if st == 0 then r.tr = 0 end
  redis.call('DEL', c.t)
end

-- A reply: {0, st, g, oa, f, s, trials, now, changed, corrupt, extra, md,
-- tr, rs, i, mk}, mk "<binding>:<from>:<at>" or "" (see parse); for no
-- state, {1, corrupt, now}.
local function reply(r, now, n, chg, corrupt, extra)
  local mk = ''
  if r.mk ~= nil and r.mk ~= '' then mk = r.mk .. ':' .. fmt(r.mf) .. ':' .. fmt(r.ma) end
  return {0, r.st, r.g, r.oa, r.f, r.s, n, now, chg, corrupt, extra or 0, r.md, r.tr, r.rs, r.i, mk}
end

local function absent(now, corrupt) return {1, corrupt, now} end

-- gone answers for a breaker whose key is absent: the state its summary
-- line holds, marked (first value 2; 3 if the line says the key has
-- expired); else absent.
local function gone(B, c, now, corrupt)
  local r = summarized(B, c, now, true)
  if r == nil then return absent(now, corrupt) end
  local out = reply(r, now, 0, 0, corrupt)
  out[1] = 2
  if r.expired then out[1] = 3 end
  return out
end

-- finish writes a state that was restored and answers with it unchanged
-- (chg 0, or the chg given).
local function finish(B, c, r, now, corrupt, fresh, chg)
  local n = trials(c, r, now)
  if fresh or corrupt == 1 then save(B, c, r, now, n) end
  if fresh then changed(B, c) end
  return reply(r, now, n, chg or 0, corrupt)
end

-- too_late answers a script run past its caller's deadline: nothing
-- done (but a restore), and changed 2 says why.
local function too_late(B, c, r, now, corrupt, fresh) return finish(B, c, r, now, corrupt, fresh, 2) end

-- register records that member m has the breaker bound.
local function register(B, m, kn, ttl)
  local reg = B.base .. 'r:' .. m
  if fix('SADD', reg, nil, kn) == 1 then fix('HINCRBY', B.nmem, kn, kn, 1) end
  redis.call('PEXPIRE', reg, ttl)
  redis.call('PEXPIRE', B.nmem, ttl)
end

local function unregister(B, m, kn)
  local reg = B.base .. 'r:' .. m
  if fix('SREM', reg, nil, kn) == 1 then
    if fix('HINCRBY', B.nmem, kn, kn, -1) <= 0 then redis.call('HDEL', B.nmem, kn) end
  end
end
`

func script(body string) *redis.Script {
	sc := redis.NewScript(luaPrelude + body)
	sources[sc] = luaPrelude + body
	return sc
}

// sources are the scripts' texts, for loading them (see loadScripts).
var sources = map[*redis.Script]string{}

// bind reads the state, restoring it if it must (an idle seed is not
// written: Redis keeps nothing for it), and registers the member
// (ARGV[17]; an operator's store sends "" and is not registered).
var bindScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt = read(c)
local fresh, none = false, false
if r == nil then
  r = seeded(c, now)
  local kept = summarized(B, c, now, true)
  if corrupt == 0 and is_idle(r) and (kept == nil or is_idle(kept) or kept.expired) then
    none = true
    if kept ~= nil and is_idle(kept) and c.seed.g <= kept.g then
      -- a closed breaker whose key expired: its identity, which the
      -- members that knew it hold, rather than a first generation, and
      -- when it closed (a ramp may still run)
      r.i, r.g, r.oa = kept.i, kept.g, kept.oa
    end
  else
    r, fresh = restore(B, c, now, corrupt)
  end
end
local n = trials(c, r, now)
if fresh then
  save(B, c, r, now, n)
  changed(B, c)
end
if ARGV[17] ~= '' then register(B, ARGV[17], c.kn, c.ttl) end
local out = reply(r, now, n, fresh and 1 or 0, corrupt)
if none then out[11] = 1 end
return out
`)

// report merges (unless late) a batch of closed-state outcomes of generation (ARGV[17],
// ARGV[18]): ARGV[19] failures before the batch's first success (all of
// them if it has none), ARGV[20] 1 if it has a success, ARGV[21] failures
// after its last success; ARGV[22] FailMax. The merged run that reaches
// FailMax trips. ARGV[23] 1 asks to trip whatever the merged run, unless a
// success has reset the run since the caller's view of it (reset count
// ARGV[24]): the caller's own view reached FailMax. ARGV[25] and ARGV[26]
// name the batch (the binding, and its number there; "0" for none): a
// batch sent again after its answer was lost (by the store, ARGV[27] 1,
// or by the client's own retries) is merged once: the last eight batch
// numbers of each binding are remembered for IdleTTL, at KEYS[6]..':d'. A
// report run past its deadline merges nothing and says so, to be sent
// again.
var reportScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end -- the sender sends it again
if r.st ~= 0 or not is_from(c, r, fresh, ARGV[17], ARGV[18]) then
  return finish(B, c, r, now, corrupt, fresh)
end
local dk = c.k .. ':d'
local id = ARGV[26]
local seen = redis.pcall('HGET', dk, ARGV[25])
if type(seen) ~= 'string' then seen = '' end
if id ~= '0' then
  -- merged already (sent again, or run again by the client): one of the
  -- last eight numbers, or older than all of them (a binding sends its
  -- batches in order, give or take its tripping call's)
  local n, low, dup = 0, nil, false
  for x in string.gmatch(seen, '[^,]+') do
    local v = tonumber(x)
    n = n + 1
    if x == id then dup = true end
    if v ~= nil and (low == nil or v < low) then low = v end
  end
  if dup or (n >= 8 and low ~= nil and tonumber(id) < low) then return finish(B, c, r, now, corrupt, fresh) end
end
local before, saw, after, failmax = tonumber(ARGV[19]), ARGV[20] == '1', tonumber(ARGV[21]), tonumber(ARGV[22])
local trip = false
if r.md == 2 then
  r.f = math.min(r.f + before, CMAX - 1)
  if saw then
    if r.f > 0 then r.rs = r.rs + 1 end
    r.f = after
  end
elseif r.f + before >= failmax then
  trip = true
elseif saw then
  if r.f + before > 0 then r.rs = r.rs + 1 end
  r.f = after
  trip = r.f >= failmax
else
  r.f = r.f + before
end
if not trip and r.md == 0 and ARGV[23] == '1' and r.rs == tonumber(ARGV[24]) then trip = true end
local chg = 0
if trip then
  next_gen(c, r, 1, now)
  r.f = failmax
  chg = 1
end
save(B, c, r, now, 0)
if id ~= '0' then
  local keep = id
  local k = 1
  for x in string.gmatch(seen, '[^,]+') do
    if k >= 8 then break end
    keep, k = keep .. ',' .. x, k + 1
  end
  if fix('HSET', dk, ARGV[25], ARGV[25], keep) == 1 and redis.call('HLEN', dk) > 256 then
    redis.call('DEL', dk) -- bindings come and go: forget them all now and then
    redis.call('HSET', dk, ARGV[25], keep)
  end
  redis.call('PEXPIRE', dk, c.idle)
end
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, 0, chg, corrupt)
`)

// transition commits a move to state ARGV[19] if the generation is
// (ARGV[17], ARGV[18]) and no mode is forced (or ARGV[21] is 1: a manual
// transition, which ends a forced mode); ARGV[18] "0" commits a manual
// transition from any generation. ARGV[20] is the run of failures of a
// trip; ARGV[22], if given, puts an opening that many ms from now (a
// hold, which sets when the open period ends: see binding.holdShift), or,
// negative for a recovery, the close that many ms ago (a close made while
// Redis was out of reach, pushed later: the ramp runs from it).
var transitionScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if not (ARGV[18] == '0' or ((r.md == 0 or ARGV[21] == '1') and is_from(c, r, fresh, ARGV[17], ARGV[18]))) then
  return finish(B, c, r, now, corrupt, fresh)
end
local was_open, tr = r.st == 1, r.tr
next_gen(c, r, tonumber(ARGV[19]), now)
if r.st == 1 then
  r.f = tonumber(ARGV[20])
  if ARGV[22] ~= nil and ARGV[22] ~= '0' then
    r.oa = math.max(now + (int(ARGV[22], -TMAX, TMAX) or 0), 0)
    if was_open then r.tr = tr end -- a hold extending an open period is no new trip
  end
elseif r.st == 0 and r.oa > 0 and ARGV[22] ~= nil then
  local ago = int(ARGV[22], -TMAX, 0)
  if ago ~= nil then r.oa = math.max(now + ago, 1) end
end
save(B, c, r, now, 0)
changed(B, c)
return reply(r, now, 0, 1, corrupt)
`)

// acquire grants a trial lease of ARGV[19] ms, numbered ARGV[21] (the
// caller's random number, so that it can give the lease back even if the
// answer never came): moving an open breaker whose open period (ARGV[17]
// ms) has passed to half-open, and while fewer than HalfOpenMaxCalls
// (ARGV[18]) leases are held. Leases past their expiry are
// dropped first, and then ARGV[20] says what happens: 0 the breaker opens
// again, 1 it closes, 2 nothing more. Never while forced open. extra is
// the permit id, 0 when none was granted.
var acquireScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if r.md == 1 then return finish(B, c, r, now, corrupt, fresh) end
local chg = 0
if r.st == 1 then
  if now < r.oa + tonumber(ARGV[17]) then return finish(B, c, r, now, corrupt, fresh) end
  next_gen(c, r, 2, now)
  chg = 1
end
if r.st ~= 2 then return finish(B, c, r, now, corrupt, fresh) end
fix('ZREMRANGEBYSCORE', c.t, nil, '(' .. fmt(now + c.ttl), '+inf')
if fix('ZCOUNT', c.t, nil, '-inf', now) > 0 then
  redis.call('ZREMRANGEBYSCORE', c.t, '-inf', now)
  local action = tonumber(ARGV[20])
  if action ~= 2 then
    next_gen(c, r, action == 0 and 1 or 0, now)
    if r.st == 1 then r.f = 1 end
    save(B, c, r, now, 0)
    changed(B, c)
    return reply(r, now, 0, 1, corrupt)
  end
end
local n = trials(c, r, now)
local id = 0
local mine = int(ARGV[21], 1, 9007199254740992)
if mine ~= nil and redis.call('ZSCORE', c.t, mine) then
  id = mine -- this request's own lease: run again by the client after a lost answer
elseif n < tonumber(ARGV[18]) then
  r.ps = r.ps + 1
  id = int(ARGV[21], 1, 9007199254740992) or r.ps -- the caller's, so that it can give it back unanswered
  redis.call('ZADD', c.t, now + tonumber(ARGV[19]), id)
  n = n + 1
end
save(B, c, r, now, n)
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, n, chg, corrupt, id)
`)

// settle takes back lease ARGV[19] of generation (ARGV[17], ARGV[18]) with
// its trial's outcome ARGV[20] (1 success, 2 failure); ARGV[21] is
// SuccessThreshold. A failed trial opens the breaker again from when it
// failed: the lease's grant (its expiry less its length, ARGV[23] ms)
// plus how long the trial ran after the grant reached its member
// (ARGV[22] ms, -1 unknown), never later than now. So the fleet's
// requests queued ahead of this one do not lengthen the open period, and
// no clock but Redis's is read.
var settleScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if r.st ~= 2 or not is_from(c, r, fresh, ARGV[17], ARGV[18]) then
  return finish(B, c, r, now, corrupt, fresh)
end
local expiry = fix('ZSCORE', c.t, nil, ARGV[19])
if fix('ZREM', c.t, nil, ARGV[19]) == 0 then return finish(B, c, r, now, corrupt, fresh) end
local chg = 0
if tonumber(ARGV[20]) == 2 then
  next_gen(c, r, 1, now)
  r.f = 1
  chg = 1
  local ran, len, e = int(ARGV[22], 0, TMAX), int(ARGV[23], 0, TMAX), int(expiry, 0, TMAX)
  if ran ~= nil and len ~= nil and e ~= nil then
    r.oa = math.max(math.min(e - len + ran, now), 0)
  end
else
  r.s = r.s + 1
  if r.s >= tonumber(ARGV[21]) then
    next_gen(c, r, 0, now)
    chg = 1
  end
end
local n = trials(c, r, now)
save(B, c, r, now, n)
if chg == 1 or fresh then changed(B, c) end
return reply(r, now, n, chg, corrupt)
`)

// release takes back the leases ARGV[19...] without an outcome, whatever
// the generation (a lease's number is its holder's random choice: a
// release granted while the answer was lost knows no generation). It
// restores nothing: a lease in a state Redis lost is gone with it.
var releaseScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
if r.st == 2 then
  for j = 19, #ARGV do fix('ZREM', c.t, nil, ARGV[j]) end
end
return reply(r, now, trials(c, r, now), 0, 0)
`)

// setMode forces mode ARGV[17] (1 open, 2 disabled) or releases it (0),
// starting a new generation, if the generation is (ARGV[18], ARGV[19])
// ("0": any).
var setModeScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt, fresh = load(B, c, now)
if late(c, now) then return too_late(B, c, r, now, corrupt, fresh) end
if not (ARGV[19] == '0' or is_from(c, r, fresh, ARGV[18], ARGV[19])) then
  return finish(B, c, r, now, corrupt, fresh)
end
local md = tonumber(ARGV[17])
local f = r.f
if md == 1 then
  next_gen(c, r, 1, now)
  r.f = f
else
  next_gen(c, r, 0, now)
end
r.md = md
save(B, c, r, now, 0)
changed(B, c)
return reply(r, now, 0, 1, corrupt)
`)

// raise lifts the generation (ARGV[17], ARGV[18]) to ARGV[19] under a new
// incarnation: a member that has seen a higher generation than Redis now
// holds (Redis lost its data, or a member seeded it without knowing) moves
// the state above everything it has seen, so that every member adopts it.
// With ARGV[20] 1, if Redis holds an idle state there (a seed after a
// loss, which decided nothing), the member's own state (its seed: open,
// forced) takes its place: an open breaker stays open through a loss.
// With ARGV[20] 2 (the member's state is closed after a recovery), an idle
// state that records no close takes the seed's: a ramp goes on from the
// close it counts from.
var raiseScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
local chg = 0
local to = int(ARGV[19], 1, GMAX)
if is_from(c, r, false, ARGV[17], ARGV[18]) and to ~= nil and r.g < to then
  if ARGV[20] == '1' and is_idle(r) then
    local rs = r.rs
    r = seeded(c, now)
    r.rs = rs
  elseif ARGV[20] == '2' and is_idle(r) and r.oa == 0 then
    r.oa = seeded(c, now).oa
  end
  r.g, r.i, r.mk = to, c.nonce, ''
  redis.call('DEL', c.t) -- the permits of the old generation are void
  save(B, c, r, now, 0)
  changed(B, c)
  chg = 1
end
return reply(r, now, trials(c, r, now), chg, 0)
`)

// note records, for operators, what the members compute for generation
// (ARGV[17], ARGV[18]): while open, the open period ARGV[19] (ms); while
// closed after a recovery, their ramp (ARGV[19], see rampNote).
var noteScript = script(`
local B = bucket()
local c = ctx(B, ARGV, 4)
local now = now_ms()
local r, corrupt = read(c)
if r == nil then return absent(now, corrupt) end
if (r.st == 1 or (r.st == 0 and r.oa > 0 and r.md == 0)) and is_from(c, r, false, ARGV[17], ARGV[18]) then
  r.op = tonumber(ARGV[19])
  save(B, c, r, now, 0)
end
return reply(r, now, trials(c, r, now), 0, 0)
`)

// readScript reads the breakers ARGV[4...] (knames) of one bucket, as
// they are: nothing is restored or renewed.
var readScript = script(`
local B = bucket()
local now = now_ms()
local out = {}
for j = 4, #ARGV do
  local c = {k = B.base .. 'b:' .. ARGV[j], kn = ARGV[j]}
  c.t = c.k .. ':t'
  local r, corrupt = read(c)
  if r == nil then out[#out + 1] = gone(B, c, now, corrupt) else out[#out + 1] = reply(r, now, trials(c, r, now), 0, 0) end
end
return out
`)

// changes answers what changed in the bucket since change ARGV[4] (of
// epoch ARGV[6], token ARGV[7]): {epoch, seq, token, flag, {kname, seq,
// state}...} for at most ARGV[5] breakers, oldest change first. flag 1:
// the log no longer reaches back to ARGV[4] (read everything); 2: the
// counter started again, or the history went back (Redis lost the bucket,
// or failed over to a replica behind): read everything.
var changesScript = script(`
local B = bucket()
local now = now_ms()
local since = tonumber(ARGV[4])
local ep, seq, tok = counter(B)
if ep == nil then ep = '' end
local function all(flag) return {ep, seq, tok, flag, {}} end
if not (ARGV[6] == '' and since == 0) then -- a reader that knew no counter takes one from its start
  if ep ~= ARGV[6] or seq < since then return all(2) end
  if since > 0 then
    local at = redis.pcall('ZRANGEBYSCORE', B.chain, since, since)
    if type(at) ~= 'table' or at.err or #at ~= 1 or at[1] ~= fmt(since) .. ':' .. ARGV[7] then return all(2) end
  end
end
if seq == since then return all(0) end
local es = redis.pcall('ZRANGEBYSCORE', B.log, '(' .. ARGV[4], seq, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
if type(es) ~= 'table' or es.err or #es == 0 then return all(1) end -- the log lost what the counter says
local flag, items = 0, {}
for j = 1, #es, 2 do
  if es[j] == '' then
    flag = 1
  else
    local c = {k = B.base .. 'b:' .. es[j], kn = es[j]}
    c.t = c.k .. ':t'
    local r, corrupt = read(c)
    local st
    if r == nil then st = gone(B, c, now, corrupt) else st = reply(r, now, trials(c, r, now), 0, 0) end
    items[#items + 1] = {es[j], int(es[j + 1], 0, seq + 1) or seq, st}
  end
end
if #es >= 2 * tonumber(ARGV[5]) then
  -- cut short: the counter as of the last change answered, for the next read
  seq, tok = int(es[#es], 0, seq + 1) or seq, ''
  local at = redis.pcall('ZRANGEBYSCORE', B.chain, seq, seq)
  if type(at) == 'table' and not at.err and at[1] then tok = string.match(at[1], ':([0-9a-z]+)$') or '' end
  if #tok > 16 then tok = '' end
end
return {ep, seq, tok, flag, items}
`)

// window merges members' window growth into the fleets' windows of one
// bucket: ARGV[4] is the member, then per breaker its context and
// (fi, fg) its closed generation, more calls, failures and slow calls,
// the bucket length in ms, the window's buckets, FailureRate,
// SlowCallRate, MinCalls and FleetMinMembers, then more requests and the
// throttle's K and maximum rejection rate (K 0: no throttle; see
// infuse.Throttle). Growth is counted in the
// bucket Redis's clock says is current. The fleet's window trips the
// breaker when it holds MinCalls calls, its failure rate reaches
// FailureRate or its slow-call rate SlowCallRate (0: off), and
// FleetMinMembers distinct members have reported failures in it. Each answer is the breaker's reply followed by
// the window's calls, failures, slow calls and requests (none when the
// breaker is not in that closed generation).
var windowScript = script(`
local B = bucket()
local now = now_ms()
local member = ARGV[4]
local out = {}
local j = 5
while j <= #ARGV do
  local c = ctx(B, ARGV, j)
  local a = j + CTXN
  j = a + 14
  local r, corrupt, fresh = load(B, c, now)
  if r.st ~= 0 or not is_from(c, r, fresh, ARGV[a], ARGV[a + 1]) then
    out[#out + 1] = finish(B, c, r, now, corrupt, fresh)
  else
    local dc, df, ds = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local bms, nb = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    local b = math.floor(now / bms)
    local w = c.w .. r.i .. ':' .. fmt(r.g)
    local life = bms * (nb + 1)
    if dc > 0 then fix('HINCRBY', w, 'c' .. fmt(b), 'c' .. fmt(b), dc) end
    if df > 0 then
      fix('HINCRBY', w, 'f' .. fmt(b), 'f' .. fmt(b), df)
      local m = w .. ':m' .. fmt(b)
      fix('SADD', m, nil, member)
      redis.call('PEXPIRE', m, life)
    end
    if ds > 0 then fix('HINCRBY', w, 's' .. fmt(b), 's' .. fmt(b), ds) end
    local dr, tk, tmax = tonumber(ARGV[a + 11]), ARGV[a + 12], ARGV[a + 13]
    if dr > 0 then fix('HINCRBY', w, 'r' .. fmt(b), 'r' .. fmt(b), dr) end
    local calls, fails, slow, reqs, old = 0, 0, 0, 0, {}
    local kv = fix('HGETALL', w, nil)
    for x = 1, #kv, 2 do
      -- Only fields this script writes count: a kind, a bucket written
      -- as fmt writes it (no "007", no "7.0": no field aliases another),
      -- of this window, and a count a bucket can hold; the rest go. So
      -- the sums stay below nb * CMAX, exact in Lua's numbers.
      local kind, digits = string.match(kv[x], '^([cfsr])(%d+)$')
      local at, v = int(digits, 0, TMAX), int(kv[x + 1], 0, CMAX)
      if at == nil or fmt(at) ~= digits or v == nil or at <= b - nb or at > b then
        old[#old + 1] = kv[x]
      elseif kind == 'c' then calls = calls + v
      elseif kind == 'f' then fails = fails + v
      elseif kind == 's' then slow = slow + v
      elseif kind == 'r' then reqs = reqs + v
      end
    end
    if #old > 0 then redis.call('HDEL', w, unpack(old)) end
    redis.call('PEXPIRE', w, life)
    fails, slow = math.min(fails, calls), math.min(slow, calls)
    local line = fmt(calls) .. ' ' .. fmt(fails) .. ' ' .. fmt(slow) .. ' '
    if tonumber(tk) > 0 then line = line .. fmt(reqs) .. ' ' .. tk .. ' ' .. tmax .. ' ' end
    if fix('HSET', B.win, nil, c.kn, line .. fmt(now + life)) == 1 then
      redis.call('PEXPIRE', B.win, c.ttl)
    end
    sweep(B.win, now, c.ttl, nil, 0)
    local fr, sr, mincalls, minmembers = tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8]), tonumber(ARGV[a + 9]), tonumber(ARGV[a + 10])
    local trip = r.md ~= 2 and calls > 0 and calls >= mincalls and
      ((fr > 0 and fails >= fr * calls) or (sr > 0 and slow >= sr * calls))
    if trip and minmembers > 1 then
      local seen, n = {}, 0
      for i = b - nb + 1, b do
        local ms = redis.pcall('SMEMBERS', w .. ':m' .. fmt(i))
        if ms.err then
          redis.call('DEL', w .. ':m' .. fmt(i))
        else
          for _, m in ipairs(ms) do
            if not seen[m] then seen[m], n = true, n + 1 end
          end
        end
      end
      trip = n >= minmembers
    end
    local rep
    if trip then
      local f = r.f
      next_gen(c, r, 1, now)
      r.f = f
      save(B, c, r, now, 0)
      changed(B, c)
      rep = reply(r, now, 0, 1, corrupt)
    else
      rep = finish(B, c, r, now, corrupt, fresh)
    end
    rep[#rep + 1] = calls
    rep[#rep + 1] = fails
    rep[#rep + 1] = slow
    rep[#rep + 1] = reqs
    out[#out + 1] = rep
  end
end
return out
`)

// registerScript records that member ARGV[4] has the breakers ARGV[6...]
// bound (and renews its registration for ARGV[5] ms); unregisterScript
// that it no longer has the breakers ARGV[5...].
var registerScript = script(`
local B = bucket()
for j = 6, #ARGV do register(B, ARGV[4], ARGV[j], tonumber(ARGV[5])) end
return 1
`)

var unregisterScript = script(`
local B = bucket()
for j = 5, #ARGV do unregister(B, ARGV[4], ARGV[j]) end
return 1
`)

// reapScript drops the registrations of member ARGV[4], which stopped
// sending heartbeats.
var reapScript = script(`
local B = bucket()
local reg = B.base .. 'r:' .. ARGV[4]
local names = redis.pcall('SMEMBERS', reg)
if type(names) == 'table' and not names.err then
  for _, kn in ipairs(names) do
    if fix('HINCRBY', B.nmem, kn, kn, -1) <= 0 then redis.call('HDEL', B.nmem, kn) end
  end
end
redis.call('DEL', reg)
return 1
`)

// renewScript keeps what member ARGV[4] holds alive for ARGV[5] more ms:
// the bucket's own keys, its registration, and the breakers ARGV[6...]
// that have something to share (idle ones are left to expire).
var renewScript = script(`
local B = bucket()
local ttl = tonumber(ARGV[5])
local now = now_ms()
for _, k in ipairs({B.seq, B.log, B.chain, B.sum, B.win, B.nmem, B.base .. 'r:' .. ARGV[4]}) do redis.call('PEXPIRE', k, ttl) end
for j = 6, #ARGV do
  local c = {k = B.base .. 'b:' .. ARGV[j], kn = ARGV[j], ttl = ttl}
  c.t = c.k .. ':t'
  local r = read(c)
  if r == nil then
    r = summarized(B, c, now) -- a key lost on its own: put it back
    if r ~= nil and not is_idle(r) then
      c.idle = ttl
      save(B, c, r, now, 0)
    else
      r = nil
    end
  end
  if r ~= nil and not is_idle(r) then
    redis.call('PEXPIRE', c.k, ttl)
    if r.st == 2 then redis.call('PEXPIRE', c.t, ttl) end
    summarize(B, c, r, now, trials(c, r, now), now + ttl)
  end
end
return 1
`)

// heartbeatScript records that member ARGV[1] is alive (KEYS[1]: the
// namespace's members, scored by Redis ms) and claims, for reaping, up to
// eight members silent for ARGV[3] ms (the reaper removes them). The reply is {1 if the member was
// not listed (it must register again), claimed...}.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.pcall('ZADD', KEYS[1], now, ARGV[1])
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[1])
  added = redis.call('ZADD', KEYS[1], now, ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
local out = {added}
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]), 'LIMIT', 0, 8)
for _, m in ipairs(stale) do
  -- claimed for 5s: the claimer removes it once reaped; if it dies first,
  -- another claims it again
  redis.call('ZADD', KEYS[1], now - tonumber(ARGV[3]) + 5000, m)
  out[#out + 1] = m
end
return out
`)
