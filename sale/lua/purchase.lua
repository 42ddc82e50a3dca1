--[[ purchase.lua: take units for one buyer, atomically, in one round trip.

KEYS[1] inv        hash of the drop: counters, phase times (ms), limits, price
KEYS[2] users      hash: user id -> units held (reserved + paid)
KEYS[3] orders     hash: order id -> order JSON
KEYS[4] deadlines  sorted set: order id -> pay-by ms
KEYS[5] stream     stream of order events for the SQL sink
KEYS[6] rejected   hash: error code -> count
KEYS[7] idem       string "order id|body hash" for this buyer's Idempotency-Key
KEYS[8] rate       string: this buyer's purchases in the current second
KEYS[9] tokver     hash: user id -> token version (the drop's copy of the account-wide versions)
KEYS[10] addr_held hash: client address tag -> reserved-but-unpaid units it holds in this drop
KEYS[11] admitted  sorted set of the waiting room: user id -> admitted_until ms
KEYS[12] tickets   hash of the waiting room: user id -> ticket status
KEYS[13] queue     hash of the waiting room: counts

ARGV[1] user id          ARGV[2] quantity        ARGV[3] now (ms)
ARGV[4] new order id     ARGV[5] body hash       ARGV[6] 1 if the purchase holds a leased F-code
ARGV[7] F-code hash ("") ARGV[8] referral token ("")
ARGV[9] purchases per second allowed per buyer   ARGV[10] idempotency TTL (s)
ARGV[11] 1 if the request carried an Idempotency-Key
ARGV[12] the token's version (refused when the account's version is above it)
ARGV[13] client address tag  ARGV[14] reserved-but-unpaid units one address may hold here
ARGV[15] 1 to answer only a known Idempotency-Key (the buyer's own order holds the F-code already)

Returns one of
  {"ok", order JSON}          units taken, order recorded and streamed
  {"dup", order JSON}         the Idempotency-Key was seen with the same body: that order
  {"missing"}                 the drop is not loaded in Redis (rebuild from SQL, then retry)
  {code, remaining}           refused: not_open, sold_out, limit_reached, quantity_over_limit,
                              fcode_quantity, rate_limited, idempotency_key_reused, token_revoked,
                              address_limit, fcode_in_use,
                              not_admitted (waiting room on, no current admission, no F-code)
A successful purchase through the waiting room marks the buyer's ticket done (status "d").
]]
local inv, users, orders, deadlines, stream, rejected, idem, rate = unpack(KEYS, 1, 8)
local tokver, addr_held, admitted, tickets, queue = unpack(KEYS, 9, 13)
local uid, qty, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local addr = ARGV[13]

local f = redis.call('HMGET', inv, 'priority_starts_at', 'starts_at', 'ends_at', 'remaining',
  'per_user_limit', 'pay_window_ms', 'price_cents', 'id', 'sku', 'currency', 'waiting_room')
if not f[4] then return {'missing'} end
local remaining = tonumber(f[4])

local function refuse(code)
  redis.call('HINCRBY', inv, 'attempts', 1)
  redis.call('HINCRBY', rejected, code, 1)
  return {code, remaining}
end

-- A revoked token (role or password changed, signed out everywhere) buys nothing, retries included.
local version = redis.call('HGET', tokver, uid)
if version and tonumber(version) > tonumber(ARGV[12]) then return refuse('token_revoked') end

-- A retry with a known key answers its order, whatever happened to stock since.
local has_idem = ARGV[11] == '1'
if has_idem then
  local prev = redis.call('GET', idem)
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, sep + 1) ~= ARGV[5] then return refuse('idempotency_key_reused') end
    return {'dup', redis.call('HGET', orders, string.sub(prev, 1, sep - 1))}
  end
end

-- The code is in this buyer's order already: a retry gets that order (above), nothing else a unit.
if ARGV[15] == '1' then return refuse('fcode_in_use') end

local count = redis.call('INCR', rate)
if count == 1 then redis.call('PEXPIRE', rate, 1000) end
if count > tonumber(ARGV[9]) then return refuse('rate_limited') end

local has_code = ARGV[6] == '1'
if now < tonumber(f[1]) or now >= tonumber(f[3]) or (now < tonumber(f[2]) and not has_code) then
  return refuse('not_open')
end
local limit = tonumber(f[5])
if qty > limit then return refuse('quantity_over_limit') end
if has_code and qty ~= 1 then return refuse('fcode_quantity') end
if remaining < qty then return refuse('sold_out') end
local held = tonumber(redis.call('HGET', users, uid) or '0')
if held + qty > limit then return refuse('limit_reached') end
-- The waiting room: the admission is checked and used up in the same step that takes the unit.
local gated = f[11] == '1' and not has_code
if gated then
  local admitted_until = redis.call('ZSCORE', admitted, uid)
  if not admitted_until or tonumber(admitted_until) <= now then return refuse('not_admitted') end
end
-- One address's accounts cannot hold a whole drop unpaid (released on pay, expiry and cancel).
local addr_units = tonumber(redis.call('HGET', addr_held, addr) or '0')
if addr ~= '' and addr_units + qty > tonumber(ARGV[14]) then return refuse('address_limit') end

redis.call('HINCRBY', inv, 'attempts', 1)
remaining = redis.call('HINCRBY', inv, 'remaining', -qty)
redis.call('HINCRBY', inv, 'reserved', qty)
if remaining == 0 then redis.call('HSETNX', inv, 'sold_out_at', now) end
redis.call('HINCRBY', users, uid, qty)
if addr ~= '' then redis.call('HINCRBY', addr_held, addr, qty) end

local pay_by = now + tonumber(f[6])
local order = cjson.encode({
  id = ARGV[4], drop_id = tonumber(f[8]), user_id = tonumber(uid), sku = f[9], quantity = qty,
  amount_cents = qty * tonumber(f[7]), currency = f[10], status = 'reserved', created_ms = now,
  pay_by_ms = pay_by, paid_ms = false, fcode = ARGV[7], ref = ARGV[8], addr = addr})
redis.call('HSET', orders, ARGV[4], order)
redis.call('ZADD', deadlines, pay_by, ARGV[4])
redis.call('XADD', stream, '*', 'o', order)
if has_idem then
  redis.call('SET', idem, ARGV[4] .. '|' .. ARGV[5], 'EX', tonumber(ARGV[10]))
end
if gated then
  redis.call('ZREM', admitted, uid)
  redis.call('HSET', tickets, uid, 'd')
  redis.call('HINCRBY', queue, 'done', 1)
end
return {'ok', order}
