--[[ token_version_check.lua: the account's current token version, for every authenticated request.

KEYS[1] versions  hash: user id -> token version (only accounts whose version was ever bumped)
KEYS[2] ready     string: exists once the versions hash was built from the record (SQL)

ARGV[1] user id

Returns the account's version (0 when never bumped), or -1 when the hash was never built (Redis
lost it): the caller rebuilds it from SQL before it accepts any token.
]]
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
