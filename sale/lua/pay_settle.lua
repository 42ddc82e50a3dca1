--[[ pay_settle.lua: end a payment started by pay_hold.lua.

KEYS[1] inv        hash of the drop (counters)
KEYS[2] orders     hash: order id -> order JSON
KEYS[3] deadlines  sorted set: order id -> pay-by ms
KEYS[4] stream     stream of order events for the SQL sink ({"i", order id})

ARGV[1] order id   ARGV[2] "paid" (charge succeeded) or "declined"   ARGV[3] now (ms)
ARGV[4] payment reference

Returns {state, order JSON}: "paid" (moved reserved units to paid, streamed), "reserved" (declined:
the order waits again until its own pay-by), or the unchanged state when it was not "paying".
]]
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if order.status ~= 'paying' then return {order.status, raw} end
if ARGV[2] == 'paid' then
  order.status = 'paid'
  order.paid_ms = tonumber(ARGV[3])
  order.payment_ref = ARGV[4]
  redis.call('HINCRBY', KEYS[1], 'paid', order.quantity)
  redis.call('ZREM', KEYS[3], ARGV[1])
  raw = cjson.encode(order)
  redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
else
  order.status = 'reserved'
  raw = cjson.encode(order)
  redis.call('ZADD', KEYS[3], order.pay_by_ms, ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], raw)
return {order.status, raw}
