--[[ fcode_confirm.lua: the unit was taken: the code is now reserved for that order.

KEYS[1] state   hash of the code

ARGV[1] order id   ARGV[2] lease token ("" when unknown)   ARGV[3] buyer's user id

The first order to confirm gets the code, lease or not (a lease may have run out under a slow
purchase); a later one conflicts and the caller gives its unit back.
Returns {"ok"} (reserved for this order, now or before), {"missing"}, or {"conflict", status}.
]]
local state = KEYS[1]
local f = redis.call('HMGET', state, 'status', 'order_id', 'lease_token')
if not f[1] then return {'missing'} end
if f[2] == ARGV[1] and f[1] ~= 'available' then return {'ok'} end
if f[1] ~= 'available' then return {'conflict', f[1]} end
local changes = {'status', 'reserved', 'order_id', ARGV[1], 'buyer', ARGV[3]}
if ARGV[2] ~= '' and f[3] == ARGV[2] then
  for _, v in ipairs({'lease_token', '', 'lease_by', '', 'lease_until', 0}) do changes[#changes + 1] = v end
end
redis.call('HSET', state, unpack(changes))
redis.call('HINCRBY', state, 'ver', 1)
return {'ok'}
