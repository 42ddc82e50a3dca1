--[[ purchase.lua: take units for one buyer, atomically, in one round trip.

KEYS[1] inv        hash of the drop: counters, phase times (ms), limits, price
KEYS[2] users      hash: user id -> units held (reserved + paid); "r:" .. user id -> "second:count",
                   the buyer's purchases in the current second (rate limit)
KEYS[3] orders     hash: order id -> order JSON (the only copy of the order in Redis)
KEYS[4] deadlines  sorted set: order id -> pay-by ms
KEYS[5] stream     stream of order events for the SQL sink: {"i", order id}, the sink reads the JSON
KEYS[6] rejected   hash: error code -> count
KEYS[7] idem       string "order id|body hash" for this buyer's Idempotency-Key

ARGV[1] user id          ARGV[2] quantity        ARGV[3] now (ms)
ARGV[4] new order id     ARGV[5] body hash       ARGV[6] 1 if the purchase holds a leased F-code
ARGV[7] F-code hash and ARGV[8] referral token, each as a JSON string literal ('""' for none)
ARGV[9] purchases per second allowed per buyer   ARGV[10] idempotency TTL (s)
ARGV[11] 1 if the request carried an Idempotency-Key

Returns one of
  {"ok", order JSON}          units taken, order recorded and streamed
  {"dup", order JSON}         the Idempotency-Key was seen with the same body: that order
  {"missing"}                 the drop is not loaded in Redis (rebuild from SQL, then retry)
  {code, remaining}           refused: not_open, sold_out, limit_reached, quantity_over_limit,
                              fcode_quantity, rate_limited, idempotency_key_reused

Cost matters here (one hot drop is one Redis core): a sale is 7 commands, a refusal 2 or 3. Attempts
and reserved units are not counted here: stats derive them (orders + rejections; stock - remaining
- paid). Sold out is refused before the buyer's own state is read.
]]
local inv, users, orders, deadlines, stream, rejected, idem =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local uid, qty, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local f = redis.call('HMGET', inv, 'priority_starts_at', 'starts_at', 'ends_at', 'remaining',
  'per_user_limit', 'pay_window_ms', 'price_cents', 'order_head')
if not f[4] or not f[8] then return {'missing'} end
local remaining = tonumber(f[4])

local function refuse(code)
  redis.call('HINCRBY', rejected, code, 1)
  return {code, remaining}
end

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

local has_code = ARGV[6] == '1'
if now < tonumber(f[1]) or now >= tonumber(f[3]) or (now < tonumber(f[2]) and not has_code) then
  return refuse('not_open')
end
local limit = tonumber(f[5])
if qty > limit then return refuse('quantity_over_limit') end
if has_code and qty ~= 1 then return refuse('fcode_quantity') end
if remaining < qty then return refuse('sold_out') end

local rate_field = 'r:' .. uid
local mine = redis.call('HMGET', users, uid, rate_field)
local second = math.floor(now / 1000)
local count = 1
if mine[2] then
  local sep = string.find(mine[2], ':', 1, true)
  if tonumber(string.sub(mine[2], 1, sep - 1)) == second then count = tonumber(string.sub(mine[2], sep + 1)) + 1 end
end
if count > tonumber(ARGV[9]) then return refuse('rate_limited') end
local rate_value = second .. ':' .. count
local held = tonumber(mine[1] or '0')
if held + qty > limit then
  redis.call('HSET', users, rate_field, rate_value)
  return refuse('limit_reached')
end

remaining = redis.call('HINCRBY', inv, 'remaining', -qty)
if remaining == 0 then redis.call('HSET', inv, 'sold_out_at', now) end
redis.call('HSET', users, uid, held + qty, rate_field, rate_value)

-- The order's JSON by concatenation (cjson.encode of a table costs as much as two commands): the
-- order id is the service's own (digits, "-", hex), numbers are formatted as integers, and the
-- drop's fields ("order_head": drop_id, sku, currency) were encoded once by load.lua.
local pay_by = now + tonumber(f[6])
local order = '{"id":"' .. ARGV[4] .. '",' .. f[8] .. ',"user_id":' .. uid .. ',"quantity":' .. qty
  .. ',"amount_cents":' .. string.format('%d', qty * tonumber(f[7])) .. ',"status":"reserved","created_ms":'
  .. string.format('%d', now) .. ',"pay_by_ms":' .. string.format('%d', pay_by)
  .. ',"paid_ms":false,"fcode":' .. ARGV[7] .. ',"ref":' .. ARGV[8] .. '}'
redis.call('HSET', orders, ARGV[4], order)
redis.call('ZADD', deadlines, pay_by, ARGV[4])
redis.call('XADD', stream, '*', 'i', ARGV[4])
if has_idem then
  redis.call('SET', idem, ARGV[4] .. '|' .. ARGV[5], 'EX', tonumber(ARGV[10]))
end
return {'ok', order}
