--[[ token_version_raise.lua: raise accounts' token versions, never lowering one.

KEYS[1] versions  a hash user id -> token version (the account-wide one, or a drop's copy)
KEYS[2] ready     (optional) string set once the hash holds everything the record holds

ARGV pairs: user id, version, user id, version, ...

A bump and a rebuild may race: keeping the larger version makes their order irrelevant.
Returns the number of entries raised.
]]
local raised = 0
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    raised = raised + 1
  end
end
if KEYS[2] then redis.call('SET', KEYS[2], '1') end
return raised
