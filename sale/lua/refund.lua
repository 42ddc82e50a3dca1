--[[ refund.lua: record the refund of a paid order (an operator's, single or bulk), after the provider
refunded it.

KEYS[1] inv        hash of the drop (counters; ends_at)
KEYS[2] users      hash: user id -> units held
KEYS[3] orders     hash: order id -> order JSON
KEYS[4] stream     stream of order events for the SQL sink ({"i", order id})

ARGV[1] order id   ARGV[2] now (ms)   ARGV[3] the provider's refund reference

While the drop is open the units go back to stock (and leave the buyer's total, so the limit lets
them buy again); after its end they are only counted as refunded.
Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process;
{"not_found"}; {"refunded", order JSON} (this call refunded it; streamed), or {"was_" .. status,
order JSON} for an order that was not paid (refunded before: "was_refunded").
]]
local run_id = redis.call('HGET', KEYS[1], 'run_id')
if run_id and run_id ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if order.status ~= 'paid' then return {'was_' .. order.status, raw} end
local now = tonumber(ARGV[2])
order.status = 'refunded'
order.refunded_ms = now
order.refund_ref = ARGV[3]
if order.pay_provider and order.pay_provider ~= '' then order.pay_status = 'refunded' end
raw = cjson.encode(order)
redis.call('HSET', KEYS[3], ARGV[1], raw)
redis.call('HINCRBY', KEYS[1], 'paid', -order.quantity)
redis.call('HINCRBY', KEYS[1], 'refunded', order.quantity)
redis.call('HINCRBY', KEYS[2], tostring(order.user_id), -order.quantity)
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends_at') or '0')
if now < ends then
  redis.call('HINCRBY', KEYS[1], 'remaining', order.quantity)
  if order.variant then redis.call('HINCRBY', KEYS[1], 'v:' .. order.variant, order.quantity) end
end
redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
return {'refunded', raw}
