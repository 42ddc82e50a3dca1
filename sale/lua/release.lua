--[[ release.lua: return reserved units to stock, for a buyer's cancel or for expiry.

KEYS[1] inv        hash of the drop (counters; "v:" .. variant sku -> the variant's units left)
KEYS[2] users      hash: user id -> units held; "a:" .. client address tag -> its reserved-but-unpaid units
KEYS[3] orders     hash: order id -> order JSON
KEYS[4] deadlines  sorted set: order id -> pay-by (or payment lease end) ms
KEYS[5] stream     stream of order events for the SQL sink ({"i", order id}: it reads the JSON in orders)

ARGV[1] "cancel" or "expire"   ARGV[2] now (ms)
cancel: ARGV[3] order id, ARGV[4] buyer's user id, ARGV[5] "closed" when the caller has closed the
        order's open provider payment (else such an order answers "close_first")
expire: ARGV[3] batch size (orders whose deadline passed, oldest first), ARGV[4] ms until a payment
        being closed is looked at again

A "paying" order whose lease ran out goes back to "reserved" (or expires when past its pay-by).
Close before release: an order past its pay-by whose provider payment is open (pay_status "pending"
or "failed": it might still succeed) keeps its units; it is returned as "to close" and looked at
again after ARGV[4] ms, until the provider's answer (pay_event.lua) made it paid or canceled.
Returns {"fenced"} (nothing done, both modes) when the drop's state was stamped by another server
process (run_id, see purchase.lua). Otherwise it returns for cancel: {state, order JSON} with state
"cancelled" or "expired" (this call returned the units), "close_first", "not_found", or "was_" + the
status of an order that was not reserved; expire: {expired order JSONs, to-close order JSONs}.
]]
-- Fenced like purchase.lua: state stamped by another server process changes nothing until merged.
local run_id = redis.call('HGET', KEYS[1], 'run_id')
if run_id and run_id ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local inv, users, orders, deadlines, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[2])

local function give_back(id, order, status)
  order.status = status
  order.ended_ms = now
  local raw = cjson.encode(order)
  redis.call('HSET', orders, id, raw)
  redis.call('ZREM', deadlines, id)
  redis.call('HINCRBY', inv, 'remaining', order.quantity)
  if order.variant then redis.call('HINCRBY', inv, 'v:' .. order.variant, order.quantity) end
  redis.call('HINCRBY', inv, 'reserved', -order.quantity)
  redis.call('HINCRBY', inv, status, order.quantity)
  redis.call('HINCRBY', users, tostring(order.user_id), -order.quantity)
  if order.addr and order.addr ~= '' then
    local field = 'a:' .. order.addr
    if redis.call('HINCRBY', users, field, -order.quantity) <= 0 then redis.call('HDEL', users, field) end
  end
  redis.call('XADD', stream, '*', 'i', id)
  return raw
end

local function payment_open(order)
  return order.pay_provider and order.pay_provider ~= '' and
    (order.pay_status == 'pending' or order.pay_status == 'failed')
end

if ARGV[1] == 'cancel' then
  local raw = redis.call('HGET', orders, ARGV[3])
  if not raw then return {'not_found'} end
  local order = cjson.decode(raw)
  if tostring(order.user_id) ~= ARGV[4] then return {'not_found'} end
  if order.status ~= 'reserved' then return {'was_' .. order.status, raw} end
  if payment_open(order) then
    if ARGV[5] ~= 'closed' then return {'close_first', raw} end
    order.pay_status = 'canceled'
  end
  if now >= order.pay_by_ms then return {'expired', give_back(ARGV[3], order, 'expired')} end
  return {'cancelled', give_back(ARGV[3], order, 'cancelled')}
end

local expired, closing = {}, {}
local close_retry = tonumber(ARGV[4] or '5000')
local due = redis.call('ZRANGE', deadlines, '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  local raw = redis.call('HGET', orders, id)
  if not raw then
    redis.call('ZREM', deadlines, id)
  else
    local order = cjson.decode(raw)
    if order.status == 'paying' and now < order.pay_by_ms then
      order.status = 'reserved'
      redis.call('HSET', orders, id, cjson.encode(order))
      redis.call('ZADD', deadlines, order.pay_by_ms, id)
    elseif (order.status == 'reserved' or order.status == 'paying') and payment_open(order) then
      redis.call('ZADD', deadlines, now + close_retry, id)
      closing[#closing + 1] = raw
    elseif order.status == 'reserved' or order.status == 'paying' then
      expired[#expired + 1] = give_back(id, order, 'expired')
    else
      redis.call('ZREM', deadlines, id)
    end
  end
end
return {expired, closing}
