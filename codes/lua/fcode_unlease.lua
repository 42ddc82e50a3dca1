--[[ fcode_unlease.lua: the purchase did not take a unit: drop its lease on the code.

KEYS[1] state   hash of the code
ARGV[1] lease token of that purchase

Returns 1 when the lease was this purchase's and is gone, 0 otherwise (ran out, or another's).
]]
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_token', '', 'lease_by', '', 'lease_until', 0)
return 1
