--[[ load.lua: build a drop's Redis state from the database, or repair it by merging both.

KEYS[1] inv        hash of the drop
KEYS[2] users      hash: user id -> units held; "a:" .. client address tag -> reserved-but-unpaid
        units (orders from the database carry no address: only those Redis still held count again)
KEYS[3] orders     hash: id -> JSON      KEYS[4] deadlines  sorted set: id -> pay-by ms
KEYS[5] refunds_due sorted set: order id -> ms its refund became due (orders whose refund is pending)

ARGV[1] the drop as JSON: id, sku, currency, price_cents, stock, priority_starts_at, starts_at,
        ends_at (ms), per_user_limit, pay_window_ms, waiting_room (0/1), queue_opens_at (ms),
        admit_per_second, challenge (0/1), paused (0/1), notice (the operator's controls, sale/admin/),
        variants ([{sku, stock, price_cents}]: each one's units left "v:" .. sku, its price "vp:" .. sku,
        their count "variants"), shipping_required (0/1: pay_hold and pay_begin refuse an order without
        an address), draw (1 on a draw drop), entries_open_ms, entries_close_ms (its entry window),
        wl_hold_ms (how long a waitlist hold lasts, sale/waitlist/; the waitlist's own fields are kept)
ARGV[2] "init" (only when the drop has no state yet) or "merge" (repair what is there)
ARGV[3..] orders from the database, as JSON of the same shape as the orders hash

Orders are the union of Redis and the database; for an order both know, a finished state
(paid, expired, cancelled) wins over a reserved one, and a refund wins over what it refunded. Counters, per-buyer totals and deadlines are
recomputed from that union, so remaining + reserved + paid == stock again. Rejections and
sold_out_at are kept; attempts are not stored (readers take orders + refusals).
The state is stamped with the serving process's run_id ("run_id" in inv): purchase.lua refuses
("fenced") on any other process, i.e. after a failover to a replica or a restart from disk, either
of which may have lost the last acknowledged writes, until this script merged SQL back in.
The order-number sequence ("order_seq") becomes at least the highest number of any order known, so
a number is never given twice even when Redis lost the sequence.
Returns {"exists"} (init, state present) or {"loaded", remaining, reserved, paid, orders added}.
]]
local inv, users, orders, deadlines, refunds_due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local drop = cjson.decode(ARGV[1])
-- The fields every order repeats, as JSON members, for purchase.lua to paste in.
local head = string.sub(cjson.encode({drop_id = drop.id, sku = drop.sku, currency = drop.currency}), 2, -2)
if ARGV[2] == 'init' and redis.call('HEXISTS', inv, 'remaining') == 1 then
  redis.call('HSETNX', inv, 'order_head', head)  -- state made by an older version
  return {'exists'}
end

local merged, added = {}, 0
local current = redis.call('HGETALL', orders)
for i = 1, #current, 2 do merged[current[i]] = cjson.decode(current[i + 1]) end
for i = 3, #ARGV do
  local o = cjson.decode(ARGV[i])
  local have = merged[o.id]
  if not have then
    merged[o.id] = o
    added = added + 1
    redis.call('HSET', orders, o.id, ARGV[i])
  elseif ((have.status == 'reserved' or have.status == 'paying') and o.status ~= 'reserved')
      or (o.status == 'refunded' and have.status ~= 'refunded') then
    merged[o.id] = o
    redis.call('HSET', orders, o.id, ARGV[i])
  end
end

local totals = {reserved = 0, paid = 0, expired = 0, cancelled = 0, refunded = 0}
local seq = tonumber(redis.call('HGET', inv, 'order_seq') or '0')
local held, by_addr, variant_held = {}, {}, {}
redis.call('DEL', users, deadlines)
for id, o in pairs(merged) do
  local state = o.status == 'paying' and 'reserved' or o.status
  local n = type(o.number) == 'string' and tonumber(string.match(o.number, '-(%d+)$')) or nil
  if n and n > seq then seq = n end
  totals[state] = (totals[state] or 0) + o.quantity
  if state == 'reserved' or state == 'paid' then
    local uid = tostring(o.user_id)
    held[uid] = (held[uid] or 0) + o.quantity
    if o.variant then variant_held[o.variant] = (variant_held[o.variant] or 0) + o.quantity end
  end
  if o.refund == 'pending' and redis.call('ZSCORE', refunds_due, id) == false then
    redis.call('ZADD', refunds_due, 0, id)  -- a late charge not refunded yet: the sweeper retries it
  end
  if state == 'reserved' then
    redis.call('ZADD', deadlines, o.pay_by_ms, id)
    if o.addr and o.addr ~= '' then by_addr[o.addr] = (by_addr[o.addr] or 0) + o.quantity end
  end
end
for uid, units in pairs(held) do redis.call('HSET', users, uid, units) end
for addr, units in pairs(by_addr) do redis.call('HSET', users, 'a:' .. addr, units) end

local remaining = drop.stock - totals.reserved - totals.paid
redis.call('HSET', inv, 'id', drop.id, 'sku', drop.sku, 'currency', drop.currency,
  'price_cents', drop.price_cents, 'stock', drop.stock, 'priority_starts_at', drop.priority_starts_at,
  'starts_at', drop.starts_at, 'ends_at', drop.ends_at, 'per_user_limit', drop.per_user_limit,
  'pay_window_ms', drop.pay_window_ms, 'waiting_room', drop.waiting_room, 'queue_opens_at', drop.queue_opens_at,
  'admit_per_second', drop.admit_per_second, 'challenge', drop.challenge, 'order_head', head,
  'paused', drop.paused or 0, 'notice', drop.notice or '', 'shipping_required', drop.shipping_required or 0,
  'remaining', remaining, 'reserved', totals.reserved, 'order_seq', seq,
  'run_id', string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'),
  'paid', totals.paid, 'expired', totals.expired, 'cancelled', totals.cancelled, 'refunded', totals.refunded,
  'draw', drop.draw or 0, 'entries_open_ms', drop.entries_open_ms or 0, 'entries_close_ms', drop.entries_close_ms or 0,
  'wl_hold_ms', drop.wl_hold_ms or 600000)
local variants = drop.variants or {}
for _, v in ipairs(variants) do
  redis.call('HSET', inv, 'v:' .. v.sku, v.stock - (variant_held[v.sku] or 0), 'vp:' .. v.sku, v.price_cents)
end
redis.call('HSET', inv, 'variants', #variants)
redis.call('HDEL', inv, 'attempts')  -- counted by older versions; now derived
return {'loaded', remaining, totals.reserved, totals.paid, added}
