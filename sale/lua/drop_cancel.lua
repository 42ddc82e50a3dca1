--[[ drop_cancel.lua: end a drop now and give its reservations back (an operator's cancel,
sale/admin/lifecycle.py), a batch per call.

KEYS[1] inv        hash of the drop (counters, ends_at)
KEYS[2] users      hash: user id -> units held; "a:" .. client address tag -> reserved-but-unpaid units
KEYS[3] orders     hash: order id -> order JSON
KEYS[4] deadlines  sorted set: order id -> pay-by (or payment lease end) ms
KEYS[5] stream     stream of order events for the SQL sink ({"i", order ids space separated})

ARGV[1] now (ms)   ARGV[2] most orders cancelled by this call

Every call first moves ends_at to now (unless it is earlier already): from then purchase.lua answers
not_open and queue_join.lua queue_not_open. It then cancels up to ARGV[2] orders still holding units
unpaid ("reserved", or "paying": a charge that lands later finds the order cancelled and is refunded
by pay_settle.lua's late-charge path): each unit goes back to stock as release.lua's give_back does
for a buyer's cancel (the same fields, kept in step with it), with one stream entry for the batch.
Returns {"fenced"} (state stamped by another server process: nothing done, see purchase.lua),
{"missing"} (the drop is not loaded), or {left, order JSON...}: the orders cancelled by this call,
and how many orders still hold units unpaid (call again while left > 0).
]]
local inv, users, orders, deadlines, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local f = redis.call('HMGET', inv, 'remaining', 'ends_at', 'run_id')
if not f[1] then return {'missing'} end
if f[3] and f[3] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local now, batch = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(f[2]) > now then redis.call('HSET', inv, 'ends_at', now) end

local out, ids = {0}, {}
local due = redis.call('ZRANGE', deadlines, 0, batch - 1)
for _, id in ipairs(due) do
  local raw = redis.call('HGET', orders, id)
  redis.call('ZREM', deadlines, id)
  if raw then
    local order = cjson.decode(raw)
    if order.status == 'reserved' or order.status == 'paying' then
      order.status = 'cancelled'
      order.ended_ms = now
      raw = cjson.encode(order)
      redis.call('HSET', orders, id, raw)
      redis.call('HINCRBY', inv, 'remaining', order.quantity)
      redis.call('HINCRBY', inv, 'reserved', -order.quantity)
      redis.call('HINCRBY', inv, 'cancelled', order.quantity)
      redis.call('HINCRBY', users, tostring(order.user_id), -order.quantity)
      if order.addr and order.addr ~= '' then
        local field = 'a:' .. order.addr
        if redis.call('HINCRBY', users, field, -order.quantity) <= 0 then redis.call('HDEL', users, field) end
      end
      ids[#ids + 1] = id
      out[#out + 1] = raw
    end
  end
end
if #ids > 0 then redis.call('XADD', stream, '*', 'i', table.concat(ids, ' ')) end
out[1] = redis.call('ZCARD', deadlines)
return out
