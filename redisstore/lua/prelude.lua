-- The prelude: what every script shares. Each script is this file followed
-- by the script's own (see scripts.go); a script reads its arguments by
-- name (ARGS, below), never ARGV[n].
--
-- A breaker's state is a hash (fields below) with its trial leases in a
-- sorted set beside it. Breakers are spread over a fixed number of buckets;
-- every key of a bucket (its breakers' keys and its own) carries the
-- bucket's hash tag, so a script that changes a breaker can also record the
-- change in its bucket, atomically, on one Cluster node. See layout.go for
-- the keys and ARCHITECTURE.md for why they are what they are.
--
-- Each bucket keeps:
--   - seq: a counter of changes (a transition, a forced mode, a new
--     identity), "<epoch>:<n>:<token>", the epoch new whenever the counter
--     starts again; and log: a sorted set of the breakers that changed,
--     scored by the seq of their last change, capped at LOGCAP entries
--     (the member "" scores the highest seq dropped, so a reader that fell
--     behind the cap knows it). A member that polls one seq per bucket
--     learns, at O(1) cost, whether anything changed, and reads only what
--     did.
--   - sum: a summary line per breaker (what the operators' listing shows)
--     with the time its key expires; win: the fleet window's totals per
--     windowed breaker; nmem: how many live members have each breaker
--     bound, kept from the members' registration sets (r:<member>).
--
-- Every change is published as a hint, "h <bucket> <epoch> <n> <token>":
-- the message says only where to look; members read what changed from
-- Redis.
--
-- Hash fields: st (0 closed, 1 open, 2 half-open), g (generation), oa (when
-- it opened, Redis ms; while closed, when it closed from open or
-- half-open, 0 for a close from closed), f (merged run of failures; the
-- tripping run while open), s (successful trials), ps (last permit id), md
-- (forced mode: 0 none, 1 forced open, 2 disabled), tr (times opened in a
-- row), i (the incarnation: "" until Redis has lost or replaced the state
-- once), rs (how many times a success has reset a run of failures), op
-- (for operators: the open period the members compute; while closed, the
-- members' recovery ramp, see rampNote), mk ("<g>:<binding>:<from>:<at>":
-- the binding whose script made generation g, the state it left and when,
-- so that each member knows, whichever way it learns of a transition,
-- whether it made it). Every field is validated on every read (parse); a
-- state with an invalid field is replaced, and reported. Fields infuse
-- does not know are left alone.
--
-- A closed state with no forced mode is idle: its key expires IdleTTL
-- after its last write and nothing renews it (a run of failures that sees
-- no outcome for that long is forgotten). Every script that needs the
-- state restores it, when Redis has none, from the caller's last confirmed
-- view (the seed in the context): an idle state as it was (same
-- incarnation and generation, so no member sees a change), anything else
-- under a new incarnation one generation up, published as a change, so
-- that every member adopts it.
--
-- Arguments. Bucket scripts take KEYS seq, log, sum, win, nmem, and first
-- the bucket's arguments (BUCKET_ARGS); scripts on one breaker take its
-- state key as KEYS[6] and, after the bucket's, its context (CTX_ARGS);
-- then each script its own (its ARGS). Each list names the arguments in
-- the order they come and says what kind each is (KINDS): the scripts read
-- them by name, and Go sends them in this order from struct fields tagged
-- with the same names (scripts.go, scriptargs.go), so the order is written
-- here and nowhere else. An argument missing, extra, or not of its kind
-- is refused before anything is read or written.

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

-- KINDS check an argument: each gives its value (a number for the
-- numeric kinds, true or false for a flag, else the string) or nil to
-- refuse it.
local function matching(pat, max)
  return function(v)
    if #v <= max and string.find(v, pat) then return v end
    return nil
  end
end
local function ranged(lo, hi) return function(v) return int(v, lo, hi) end end
local function decimal(v) -- a finite number, not negative, kept as written
  local n = tonumber(v)
  if n == nil or n ~= n or n < 0 or n == math.huge then return nil end
  return v
end
local function canonical(hi) -- an integer in [0, hi) as fmt writes it, kept as written
  return function(v)
    local n = int(v, 0, hi)
    if n ~= nil and fmt(n) == v then return v end
    return nil
  end
end
local KINDS = {
  str = function(v) return v end,
  inc = matching('^[0-9a-z]*$', 32), -- an incarnation ("" for the first)
  nonce = matching('^[0-9a-z]+$', 32), -- a new incarnation, epoch or token
  binding = matching('^[0-9a-z.]*$', 64), -- a binding's id, as mk records it
  -- a generation as a member saw it, compared as written ("0": any, or
  -- none yet)
  gen = canonical(GMAX),
  serial = canonical(9007199254740992), -- a number compared as written
  number = ranged(0, 9007199254740992),
  flag = function(v)
    if v == '1' then return true elseif v == '0' then return false end
    return nil
  end,
  choice = ranged(0, 3), -- 0, 1 or 2: a State, a Mode, a TrialExpiry...
  cause = ranged(0, 64), -- a transition's cause (storage.Cause)
  count = ranged(0, CMAX),
  ms = ranged(0, TMAX), -- a time or a length of time, in ms
  span = ranged(1 - TMAX, TMAX), -- a length of time that may be negative
  length = ranged(1, TMAX), -- a length of time of 1 ms or more
  rate = function(v) return decimal(v) and tonumber(v) end, -- a ratio, or a factor
  decimal = decimal, -- the same, kept as written
}

-- take reads the arguments from ARGV[j] on, as the list names them
-- ("name:kind"; a last "name:kind..." takes every argument left, as a
-- list), into a table by name, and returns it with the position after
-- them. An argument missing or not of its kind ends the script with an
-- error, before it has done anything.
local function take(j, list)
  local a = {}
  for k = 1, #list do
    local name, kind, rest = string.match(list[k], '^([%w_]+):(%a+)(%.*)$')
    local check = KINDS[kind]
    if rest == '...' then
      a[name] = {}
      while j <= #ARGV do
        local v = check(ARGV[j])
        if v == nil then error({err = 'ERR infuse: argument ' .. name .. ' (' .. kind .. ') is ' .. ARGV[j]}) end
        a[name][#a[name] + 1] = v
        j = j + 1
      end
    else
      local v = ARGV[j]
      if v ~= nil then v = check(v) end
      if v == nil then
        error({err = 'ERR infuse: argument ' .. name .. ' (' .. kind .. ') is ' .. tostring(ARGV[j])})
      end
      a[name] = v
      j = j + 1
    end
  end
  return a, j
end

-- args is take for a script's last list: any argument after it is refused
-- too (a caller that sends another script's arguments).
local function args(j, list)
  local a, after = take(j, list)
  if after <= #ARGV then error({err = 'ERR infuse: ' .. fmt(#ARGV - after + 1) .. ' arguments too many'}) end
  return a
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

-- The bucket's arguments: its channel, its number and its key prefix.
local BUCKET_ARGS = {'chan:str', 'bucket:count', 'base:str'}

-- bucket is the bucket's keys and arguments, and the position after them.
local function bucket()
  local a, j = take(1, BUCKET_ARGS)
  return {seq = KEYS[1], log = KEYS[2], sum = KEYS[3], win = KEYS[4], nmem = KEYS[5], chain = a.base .. 'chain',
          chan = a.chan, idx = fmt(a.bucket), base = a.base}, j
end

-- A breaker's context: kname (its name as it appears in keys), its keys'
-- TTL and idle TTL, the caller's deadline (Redis ms; 0: none), a nonce
-- (the incarnation to use if the script must make one, and the bucket's
-- new epoch or token), the seed (the caller's last confirmed view: i, g,
-- st, ms since it opened, or while closed since it closed from open or
-- half-open, 0 for none, and negative for a hold ahead; f, md, tr), and
-- the caller's binding id, recorded as the maker of a transition the
-- script makes.
local CTX_ARGS = {'kname:str', 'ttl:ms', 'idle:ms', 'deadline:ms', 'nonce:nonce', 'seed_i:inc', 'seed_g:gen',
                  'seed_st:choice', 'seed_el:span', 'seed_f:count', 'seed_md:choice', 'seed_tr:count', 'me:binding'}

-- ctx is one breaker's context, read from ARGV[j] on, and the position
-- after it.
local function ctx(B, j)
  local a
  a, j = take(j, CTX_ARGS)
  local k = B.base .. 'b:' .. a.kname
  return {k = k, t = k .. ':t', w = k .. ':w:', kn = a.kname, ttl = a.ttl, idle = a.idle, dl = a.deadline,
          nonce = a.nonce,
          seed = {i = a.seed_i, g = tonumber(a.seed_g), gs = a.seed_g, st = a.seed_st, el = a.seed_el, f = a.seed_f,
                  md = a.seed_md, tr = a.seed_tr},
          me = a.me}, j
end

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
  -- mk: "<g>:<binding>:<from>:<at>:<cause>", the binding whose script
  -- made generation g, the state it left, when (Redis ms) and why (a
  -- storage.Cause; absent as an older version writes it: unknown); it
  -- tells of generation g only (an older version of infuse moves the
  -- generation without writing it). Anything else: unknown.
  r.mk, r.mf, r.ma, r.mc = '', 0, 0, 0
  if type(v[12]) == 'string' then
    local g, who, from, at, why = string.match(v[12], '^(%d+):([0-9a-z.]+):([012]):(%d+):(%d+)$')
    if g == nil then
      g, who, from, at = string.match(v[12], '^(%d+):([0-9a-z.]+):([012]):(%d+)$')
    end
    at = int(at, 0, TMAX)
    if g == fmt(r.g) and #who <= 64 and at ~= nil then
      r.mk, r.mf, r.ma, r.mc = who, tonumber(from), at, int(why, 0, 64) or 0
    end
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
  local why = '0'
  if #f == 13 then why = table.remove(f, 12) end -- the cause, before the expiry
  if #f ~= 12 then return nil end
  local x = int(f[12], 0, TMAX)
  if x == nil or (x < now and not expired_too) then return nil end
  local i = f[10]
  if i == '-' then i = '' end
  local r = parse({f[1], f[2], f[3], f[4], f[5], '0', f[7], f[8], i, '0', f[9]})
  if r ~= nil then r.expired, r.ma, r.mc = x < now, int(f[11], 0, TMAX) or 0, int(why, 0, 64) or 0 end
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
    fmt(r.ma or 0) .. ' ' .. fmt(r.mc or 0) .. ' ' .. fmt(x))
  if added == 1 then redis.call('PEXPIRE', B.sum, c.ttl) end
  sweep(B.sum, now, c.ttl, B.win, c.ttl)
  sweep(B.win, now, c.ttl, nil, 0)
end

local function save(B, c, r, now, n)
  local ttl = c.ttl
  if is_idle(r) then ttl = c.idle end
  local mk = ''
  if r.mk ~= '' then mk = fmt(r.g) .. ':' .. r.mk .. ':' .. fmt(r.mf) .. ':' .. fmt(r.ma) .. ':' .. fmt(r.mc or 0) end
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

-- CAUSE: why a transition is made, as storage.Cause numbers them (its
-- test holds the two together).
local CAUSE = {failures = 1, failure_rate = 2, slow_call_rate = 3, open_period_over = 5, trial_failed = 6,
  trials_succeeded = 7, trial_expired = 8, operator = 9}

-- next_gen starts a new generation in state st, with no forced mode, made
-- for cause (a CAUSE); the run of trips grows with each opening and ends
-- when the breaker closes.
local function next_gen(c, r, st, now, cause)
  local recovers = st == 0 and r.st ~= 0
  r.mf, r.mk, r.ma, r.mc = r.st, c.me or '', now, cause or 0
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
-- state, {1, corrupt, now}. codec.go's decodeReply reads it.
local function reply(r, now, n, chg, corrupt, extra)
  local mk = ''
  if r.mk ~= nil and r.mk ~= '' then mk = r.mk .. ':' .. fmt(r.mf) .. ':' .. fmt(r.ma) .. ':' .. fmt(r.mc or 0) end
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
