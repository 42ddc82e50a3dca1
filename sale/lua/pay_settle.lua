--[[ pay_settle.lua: end a payment started by pay_hold.lua, or record the refund of a late charge.

KEYS[1] inv        hash of the drop (counters)
KEYS[2] orders     hash: order id -> order JSON
KEYS[3] deadlines  sorted set: order id -> pay-by ms
KEYS[4] stream     stream of order events for the SQL sink ({"i", order id}: it reads the JSON here)
KEYS[5] users      hash of the drop's buyers: "a:" .. client address tag -> reserved-but-unpaid
                   units (a paid unit leaves it)
KEYS[6] refunds_due sorted set: order id -> ms its refund became due (the sweeper retries these)

ARGV[1] order id   ARGV[2] "paid" (charge succeeded), "declined" or "refunded"   ARGV[3] now (ms)
ARGV[4] payment reference (of the charge; of the refund for "refunded")
ARGV[5] share token minted for the paid order ("" for none)

A "reserved" order (its lease ran out, its pay-by not yet) is paid too by a successful charge.
Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process
(run_id, see purchase.lua); otherwise {state, order JSON}:
  "paid"        moved reserved units to paid, with the share token; streamed (the sink writes the
                paid state and the share link)
  "reserved"    declined: the order waits again until its own pay-by
  "refund_due"  the charge succeeded after the payment lease ran out and the order expired or was
                cancelled meanwhile (its unit went back): the caller refunds it; streamed
  "refunded"    the refund of such a charge is recorded (the order's status is now "refunded"); streamed
  otherwise the unchanged state of an order that was not "paying" ({"not_found"} when unknown).
]]
-- Fenced like purchase.lua: state stamped by another server process changes nothing until merged.
local run_id = redis.call('HGET', KEYS[1], 'run_id')
if run_id and run_id ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
local now = tonumber(ARGV[3])

if ARGV[2] == 'refunded' then
  if order.refund ~= 'pending' then return {order.status, raw} end
  order.refund = 'refunded'
  order.refunded_ms = now
  order.refund_ref = ARGV[4]
  -- The buyer sees the truth: money taken after the unit went back, and given back.
  order.status = 'refunded'
  if order.pay_provider and order.pay_provider ~= '' then order.pay_status = 'refunded' end
  raw = cjson.encode(order)
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], raw)
  redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
  return {'refunded', raw}
end

-- A lease that ran out while the provider answered set the order back to "reserved": the unit is
-- still this buyer's, so a successful charge pays it all the same.
local payable = order.status == 'paying' or (ARGV[2] == 'paid' and order.status == 'reserved')
if not payable then
  if ARGV[2] == 'paid' and (order.status == 'expired' or order.status == 'cancelled') and not order.refund then
    order.refund = 'pending'
    order.payment_ref = ARGV[4]
    raw = cjson.encode(order)
    redis.call('ZADD', KEYS[6], now, ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], raw)
    redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
    return {'refund_due', raw}
  end
  return {order.status, raw}
end
if ARGV[2] == 'paid' then
  order.status = 'paid'
  order.paid_ms = now
  order.payment_ref = ARGV[4]
  if ARGV[5] ~= '' then order.share = ARGV[5] end
  redis.call('HINCRBY', KEYS[1], 'reserved', -order.quantity)
  redis.call('HINCRBY', KEYS[1], 'paid', order.quantity)
  redis.call('ZREM', KEYS[3], ARGV[1])
  if order.addr and order.addr ~= '' then
    local field = 'a:' .. order.addr
    if redis.call('HINCRBY', KEYS[5], field, -order.quantity) <= 0 then redis.call('HDEL', KEYS[5], field) end
  end
  raw = cjson.encode(order)
  redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
else
  order.status = 'reserved'
  raw = cjson.encode(order)
  redis.call('ZADD', KEYS[3], order.pay_by_ms, ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], raw)
return {order.status, raw}
