-- renew keeps what member holds alive for ttl more ms: the bucket's own
-- keys, its registration, and the breakers knames that have something to
-- share (idle ones are left to expire).
local ARGS = {'member:str', 'ttl:ms', 'knames:str...'}

local B, j = bucket()
local a = args(j, ARGS)
local ttl = a.ttl
local now = now_ms()
for _, k in ipairs({B.seq, B.log, B.chain, B.sum, B.win, B.nmem, B.base .. 'r:' .. a.member}) do
  redis.call('PEXPIRE', k, ttl)
end
for _, kn in ipairs(a.knames) do
  local c = {k = B.base .. 'b:' .. kn, kn = kn, ttl = ttl}
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
