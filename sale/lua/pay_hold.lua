--[[ pay_hold.lua: start paying a reserved order; while the payment runs the order cannot expire.

KEYS[1] inv        hash of the drop (its run_id stamp: see purchase.lua's fence; shipping_required)
KEYS[2] orders     hash: order id -> order JSON
KEYS[3] deadlines  sorted set: order id -> pay-by ms (here: the payment lease's end)

ARGV[1] order id   ARGV[2] buyer's user id   ARGV[3] now (ms)   ARGV[4] lease (ms)
ARGV[5] the address it ships to, as JSON ("" for none: an address recorded before is kept)

The token was checked by the service (core/token_versions.py) before this call.
Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process, as
purchase.lua does; else {state, order JSON} with state one of
  "held"       the order is now "paying" until the lease ends (then the sweeper sets it back)
  "paid"       already paid: nothing more to charge
  "busy"       another payment of this order is running (or a provider's payment is open)
  "due"        reserved but past its pay-by: the caller expires it
  "address_required"  the drop ships and the order has no address: nothing changed
  "expired" | "cancelled"
or {"not_found"} when the order is unknown or not this buyer's.
]]
local inv = redis.call('HMGET', KEYS[1], 'run_id', 'shipping_required')
local run_id = inv[1]
if run_id and run_id ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if tostring(order.user_id) ~= ARGV[2] then return {'not_found'} end
if order.status ~= 'reserved' then return {order.status == 'paying' and 'busy' or order.status, raw} end
-- A provider's payment that may still succeed: charging here too could take the money twice.
if order.pay_provider and (order.pay_status == 'pending' or order.pay_status == 'failed') then
  return {'busy', raw}
end
local now = tonumber(ARGV[3])
if now >= order.pay_by_ms then return {'due', raw} end
if ARGV[5] and ARGV[5] ~= '' then order.ship = cjson.decode(ARGV[5]) end
if inv[2] == '1' and type(order.ship) ~= 'table' then return {'address_required', raw} end
order.status = 'paying'
raw = cjson.encode(order)
redis.call('HSET', KEYS[2], ARGV[1], raw)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
return {'held', raw}
