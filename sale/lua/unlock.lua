--[[ unlock.lua: release a lock only if it is still the caller's (compare-and-delete).

KEYS[1] lock   string: the holder's random token (with a TTL)
ARGV[1] token  the caller's token

Returns 1 when the lock was the caller's and is deleted, 0 otherwise (it expired, or another holder
took it after it expired).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
