--[[ fcode_order_end.lua: the order that holds a code was paid, or expired / was cancelled.

KEYS[1] state   hash of the code

ARGV[1] "paid" or "released"   ARGV[2] order id   ARGV[3] buyer's user id ("" unknown)

released: a code reserved for this order is available again (until its own expiry); a revoked
          one stays revoked.
paid:     a code reserved for this order is redeemed. A code still available (the purchase was
          cut off before it confirmed) is redeemed by this order too: the order used it.
Returns {"ok"}, {"missing"}, {"ignored", status} (released: not this order's) or
{"conflict", status} (paid: the code went to another order).
]]
local state = KEYS[1]
local f = redis.call('HMGET', state, 'status', 'order_id')
if not f[1] then return {'missing'} end
local status, mine = f[1], f[2] == ARGV[2]
if ARGV[1] == 'released' then
  if not mine then return {'ignored', status} end
  if status == 'reserved' then
    redis.call('HSET', state, 'status', 'available', 'order_id', '', 'buyer', '')
    redis.call('HINCRBY', state, 'ver', 1)
  end
  return {'ok'}
end
if mine and status == 'reserved' then
  redis.call('HSET', state, 'status', 'redeemed')
  redis.call('HINCRBY', state, 'ver', 1)
  return {'ok'}
end
if mine then return {'ok'} end
if status == 'available' then
  redis.call('HSET', state, 'status', 'redeemed', 'order_id', ARGV[2], 'buyer', ARGV[3],
    'lease_token', '', 'lease_by', '', 'lease_until', 0)
  redis.call('HINCRBY', state, 'ver', 1)
  return {'ok'}
end
return {'conflict', status}
