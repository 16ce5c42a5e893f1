-- unregister records that member no longer has the breakers knames bound.
local ARGS = {'member:str', 'knames:str...'}

local B, j = bucket()
local a = args(j, ARGS)
for _, kn in ipairs(a.knames) do unregister(B, a.member, kn) end
return 1
