--[[ pay_record.lua: store what the provider answered for a payment pay_begin.lua began.

KEYS[1] orders     hash: order id -> order JSON
KEYS[2] stream     stream of order events for the SQL sink ({"i", order id})

ARGV[1] order id   ARGV[2] provider   ARGV[3] attempt   ARGV[4] intent (PaymentIntent id, out_trade_no)
ARGV[5] what the front end completes it with (client_secret, redirect URL)

Returns {"recorded", order JSON} when the order's current attempt took them (streamed, so SQL knows
the intent: reconcile and a rebuilt Redis find it), {"stale", order JSON} when the order moved on
(another attempt, a notice, an expiry) and nothing changed, {"not_found"} for an unknown order.
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if order.pay_provider ~= ARGV[2] or tostring(order.pay_attempt) ~= ARGV[3] then return {'stale', raw} end
if order.pay_intent == ARGV[4] and order.pay_client == ARGV[5] then return {'recorded', raw} end
order.pay_intent = ARGV[4]
order.pay_client = ARGV[5]
raw = cjson.encode(order)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('XADD', KEYS[2], '*', 'i', ARGV[1])
return {'recorded', raw}
