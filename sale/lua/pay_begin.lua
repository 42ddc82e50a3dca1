--[[ pay_begin.lua: start (or find) an asynchronous provider's payment of a reserved order.

KEYS[1] inv        hash of the drop (its run_id stamp: see purchase.lua's fence; shipping_required)
KEYS[2] orders     hash: order id -> order JSON

ARGV[1] order id   ARGV[2] buyer's user id   ARGV[3] now (ms)   ARGV[4] provider ("stripe", "alipay")
ARGV[5] "replace": the caller closed the order's open payment at its other provider (a switch)
ARGV[6] the address it ships to, as JSON ("" for none: an address recorded before is kept)

The order's payment fields: pay_provider, pay_status ("pending" until the provider's notice),
pay_attempt (1, 2, ...: the provider's idempotency key / trade number is the order id, then
order id .. "-" .. attempt), pay_intent and pay_client ("" until pay_record.lua stores them).
Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process;
else {state, order JSON} with state one of
  "begun"     a new attempt is recorded "pending": the caller creates it at the provider
  "existing"  this provider's payment is open already (pending or failed): answer it (create it
              again with the same key when pay_intent is still "")
  "switch"    another provider's payment is open: the caller closes it there, then calls again
              with "replace"
  "paid"      already paid          "busy"  the test provider's charge is running
  "due"       reserved but past its pay-by: the caller expires it
  "address_required"  the drop ships and the order has no address: nothing changed
  "expired" | "cancelled" | "refunded"
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
local open = order.pay_provider and (order.pay_status == 'pending' or order.pay_status == 'failed')
if tonumber(ARGV[3]) >= order.pay_by_ms then return {'due', raw} end
if ARGV[6] and ARGV[6] ~= '' then order.ship = cjson.decode(ARGV[6]) end
if inv[2] == '1' and type(order.ship) ~= 'table' then return {'address_required', raw} end
if open and order.pay_provider == ARGV[4] then
  if ARGV[6] and ARGV[6] ~= '' then
    raw = cjson.encode(order)
    redis.call('HSET', KEYS[2], ARGV[1], raw)
  end
  return {'existing', raw}
end
if open and ARGV[5] ~= 'replace' then return {'switch', raw} end
order.pay_provider = ARGV[4]
order.pay_status = 'pending'
order.pay_attempt = (order.pay_attempt or 0) + 1
order.pay_intent = ''
order.pay_client = ''
raw = cjson.encode(order)
redis.call('HSET', KEYS[2], ARGV[1], raw)
return {'begun', raw}
