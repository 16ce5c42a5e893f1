-- bind reads the state, restoring it if it must (an idle seed is not
-- written: Redis keeps nothing for it), and registers member (an
-- operator's store sends "" and is not registered). extra is 1 when Redis
-- stores nothing for the breaker.
local ARGS = {'member:str'}

local B, j = bucket()
local c
c, j = ctx(B, j)
local a = args(j, ARGS)
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
if a.member ~= '' then register(B, a.member, c.kn, c.ttl) end
local out = reply(r, now, n, fresh and 1 or 0, corrupt)
if none then out[11] = 1 end
return out
