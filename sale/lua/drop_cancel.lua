--[[ drop_cancel.lua: end a drop now and give its reservations back (an operator's cancel,
sale/admin/lifecycle.py), a batch per call.

KEYS[1] inv        hash of the drop (counters, ends_at; "v:" .. variant sku -> the variant's units left)
KEYS[2] users      hash: user id -> units held; "a:" .. client address tag -> reserved-but-unpaid units
KEYS[3] orders     hash: order id -> order JSON
KEYS[4] deadlines  sorted set: order id -> pay-by (or payment lease end) ms
KEYS[5] stream     stream of order events for the SQL sink ({"i", order ids space separated})

ARGV[1] now (ms)   ARGV[2] most orders looked at by this call
ARGV[3] how many orders at the front of the deadlines this cancel keeps (their provider payment is
        open: looked at by an earlier call, they stay until closed): the call starts after them

Every call first moves ends_at to now (unless it is earlier already): from then purchase.lua answers
not_open and queue_join.lua queue_not_open. It then looks at up to ARGV[2] orders still holding units
unpaid, in deadline order: an order whose provider payment is open (pay_status "pending" or "failed":
it might still succeed) is kept and returned to be closed at the provider first (close before release,
as release.lua does); any other "reserved" or "paying" one (the test card's charge in flight: a charge
that lands later finds the order cancelled and is refunded as a late charge) is cancelled and its units
go back to stock exactly as release.lua's give_back does for a buyer's cancel (the same fields: keep
them in step), with one stream entry for the batch.
Returns {"fenced"} (state stamped by another server process: nothing done, see purchase.lua),
{"missing"} (the drop is not loaded), or {more, cancelled count, cancelled order JSON..., kept order
JSON...}: more is 1 while orders beyond this batch remain to be looked at.
]]
local inv, users, orders, deadlines, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = redis.call('HMGET', inv, 'remaining', 'ends_at', 'run_id')
if not f[1] then return {'missing'} end
if f[3] and f[3] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local now, batch, skip = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tonumber(f[2]) > now then redis.call('HSET', inv, 'ends_at', now) end

local function payment_open(order)
  return order.pay_provider and order.pay_provider ~= '' and
    (order.pay_status == 'pending' or order.pay_status == 'failed')
end

local cancelled, kept, ids = {}, {}, {}
local due = redis.call('ZRANGE', deadlines, skip, skip + batch - 1)
for _, id in ipairs(due) do
  local raw = redis.call('HGET', orders, id)
  local order = raw and cjson.decode(raw)
  if order and (order.status == 'reserved' or order.status == 'paying') and payment_open(order) then
    kept[#kept + 1] = raw
  elseif order and (order.status == 'reserved' or order.status == 'paying') then
    order.status = 'cancelled'
    order.ended_ms = now
    raw = cjson.encode(order)
    redis.call('HSET', orders, id, raw)
    redis.call('ZREM', deadlines, id)
    redis.call('HINCRBY', inv, 'remaining', order.quantity)
    if order.variant then redis.call('HINCRBY', inv, 'v:' .. order.variant, order.quantity) end
    redis.call('HINCRBY', inv, 'reserved', -order.quantity)
    redis.call('HINCRBY', inv, 'cancelled', order.quantity)
    redis.call('HINCRBY', users, tostring(order.user_id), -order.quantity)
    if order.addr and order.addr ~= '' then
      local field = 'a:' .. order.addr
      if redis.call('HINCRBY', users, field, -order.quantity) <= 0 then redis.call('HDEL', users, field) end
    end
    ids[#ids + 1] = id
    cancelled[#cancelled + 1] = raw
  else
    redis.call('ZREM', deadlines, id)  -- paid or ended meanwhile: nothing held unpaid
  end
end
if #ids > 0 then redis.call('XADD', stream, '*', 'i', table.concat(ids, ' ')) end
local out = {redis.call('ZCARD', deadlines) > skip + #kept and 1 or 0, #cancelled}
for _, raw in ipairs(cancelled) do out[#out + 1] = raw end
for _, raw in ipairs(kept) do out[#out + 1] = raw end
return out
