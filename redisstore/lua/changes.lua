-- changes answers what changed in the bucket since change since (of epoch
-- epoch, token token): {epoch, seq, token, flag, {kname, seq, state}...}
-- for at most limit breakers, oldest change first. flag 1: the log no
-- longer reaches back to since (read everything); 2: the counter started
-- again, or the history went back (Redis lost the bucket, or failed over
-- to a replica behind): read everything.
local ARGS = {'since:number', 'limit:count', 'epoch:str', 'token:str'}

local B, j = bucket()
local a = args(j, ARGS)
local now = now_ms()
local since = a.since
local ep, seq, tok = counter(B)
if ep == nil then ep = '' end
local function all(flag) return {ep, seq, tok, flag, {}} end
if not (a.epoch == '' and since == 0) then -- a reader that knew no counter takes one from its start
  if ep ~= a.epoch or seq < since then return all(2) end
  if since > 0 then
    local at = redis.pcall('ZRANGEBYSCORE', B.chain, since, since)
    if type(at) ~= 'table' or at.err or #at ~= 1 or at[1] ~= fmt(since) .. ':' .. a.token then return all(2) end
  end
end
if seq == since then return all(0) end
local es = redis.pcall('ZRANGEBYSCORE', B.log, '(' .. fmt(since), seq, 'WITHSCORES', 'LIMIT', 0, a.limit)
if type(es) ~= 'table' or es.err or #es == 0 then return all(1) end -- the log lost what the counter says
local flag, items = 0, {}
for k = 1, #es, 2 do
  if es[k] == '' then
    flag = 1
  else
    local c = {k = B.base .. 'b:' .. es[k], kn = es[k]}
    c.t = c.k .. ':t'
    local r, corrupt = read(c)
    local st
    if r == nil then st = gone(B, c, now, corrupt) else st = reply(r, now, trials(c, r, now), 0, 0) end
    items[#items + 1] = {es[k], int(es[k + 1], 0, seq + 1) or seq, st}
  end
end
if #es >= 2 * a.limit then
  -- cut short: the counter as of the last change answered, for the next read
  seq, tok = int(es[#es], 0, seq + 1) or seq, ''
  local at = redis.pcall('ZRANGEBYSCORE', B.chain, seq, seq)
  if type(at) == 'table' and not at.err and at[1] then tok = string.match(at[1], ':([0-9a-z]+)$') or '' end
  if #tok > 16 then tok = '' end
end
return {ep, seq, tok, flag, items}
