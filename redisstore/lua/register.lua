-- register records that member has the breakers knames bound, and renews
-- its registration for ttl ms.
local ARGS = {'member:str', 'ttl:ms', 'knames:str...'}

local B, j = bucket()
local a = args(j, ARGS)
for _, kn in ipairs(a.knames) do register(B, a.member, kn, a.ttl) end
return 1
