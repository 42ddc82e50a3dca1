--[[ purchase.lua: take units for a batch of buyers of one drop, atomically, in one round trip.

The service sends the purchases of one drop that arrived while its previous call was in flight
(one when the drop is quiet). Each is decided in order exactly as if it came alone; the drop's
counters, the round trip and the command overhead are shared.

KEYS[1] inv        hash of the drop: counters, phase times (ms), limits, price
KEYS[2] users      hash: user id -> units held (reserved + paid); "r:" .. user id -> "second:count",
                   the buyer's purchases in the current second (rate limit)
KEYS[3] orders     hash: order id -> order JSON (the only copy of the order in Redis)
KEYS[4] deadlines  sorted set: order id -> pay-by ms
KEYS[5] stream     stream of order events for the SQL sink: {"i", order ids space separated}; the
                   sink reads their JSON from the orders hash
KEYS[6] rejected   hash: error code -> count
KEYS[6 + n]        purchase n's Idempotency-Key: string "order id|body hash"

ARGV[1] now (ms)   ARGV[2] purchases per second allowed per buyer   ARGV[3] idempotency TTL (s)
then 8 per purchase n, from ARGV[4 + 8 * (n - 1)]:
  user id, quantity, new order id, body hash, 1 if it holds a leased F-code,
  F-code hash and referral token (each a JSON string literal, '""' for none),
  1 if the request carried an Idempotency-Key

Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process
(run_id): a promoted replica or a restarted server may lack the last acknowledged writes, so the
drop sells again only after the service merged SQL back in (load.lua, which stamps it anew).
Otherwise one reply per purchase, in order:
  {"ok", order JSON}          units taken, order recorded and streamed
  {"dup", order JSON}         the Idempotency-Key was seen with the same body: that order
  {"missing"}                 the drop is not loaded in Redis (rebuild from SQL, then retry)
  {code, remaining}           refused: not_open, sold_out, limit_reached, quantity_over_limit,
                              fcode_quantity, rate_limited, idempotency_key_reused

Cost matters here (one hot drop is one Redis core): a sale is 4 commands plus the batch's 3 (read
the drop, count units down once, one stream entry); a refusal is 1 or 2. Attempts and reserved units
are not counted: stats derive them (orders + refusals; stock - remaining - paid).
]]
local inv, users, orders, deadlines, stream, rejected =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, rate_limit, idem_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local count = (#ARGV - 3) / 8

local f = redis.call('HMGET', inv, 'priority_starts_at', 'starts_at', 'ends_at', 'remaining',
  'per_user_limit', 'pay_window_ms', 'price_cents', 'order_head', 'run_id')
if not f[4] or not f[8] then
  local replies = {}
  for n = 1, count do replies[n] = {'missing'} end
  return replies
end
if f[9] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local remaining = tonumber(f[4])
local opens, starts, ends = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local limit, pay_window, price, head = tonumber(f[5]), tonumber(f[6]), tonumber(f[7]), f[8]
local second = math.floor(now / 1000)
local taken, sold, refused = 0, {}, {}

local function refuse(code)
  refused[code] = (refused[code] or 0) + 1
  return {code, remaining}
end

local function purchase(n)
  local a = 4 + 8 * (n - 1)
  local uid, qty, order_id, body_hash = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  local has_code, has_idem, idem = ARGV[a + 4] == '1', ARGV[a + 7] == '1', KEYS[6 + n]

  -- A retry with a known key answers its order, whatever happened to stock since.
  if has_idem then
    local prev = redis.call('GET', idem)
    if prev then
      local sep = string.find(prev, '|', 1, true)
      if string.sub(prev, sep + 1) ~= body_hash then return refuse('idempotency_key_reused') end
      return {'dup', redis.call('HGET', orders, string.sub(prev, 1, sep - 1))}
    end
  end

  if now < opens or now >= ends or (now < starts and not has_code) then return refuse('not_open') end
  if qty > limit then return refuse('quantity_over_limit') end
  if has_code and qty ~= 1 then return refuse('fcode_quantity') end
  if remaining < qty then return refuse('sold_out') end

  local rate_field = 'r:' .. uid
  local mine = redis.call('HMGET', users, uid, rate_field)
  local attempts = 1
  if mine[2] then
    local sep = string.find(mine[2], ':', 1, true)
    if tonumber(string.sub(mine[2], 1, sep - 1)) == second then
      attempts = tonumber(string.sub(mine[2], sep + 1)) + 1
    end
  end
  if attempts > rate_limit then return refuse('rate_limited') end
  local rate_value = second .. ':' .. attempts
  local held = tonumber(mine[1] or '0')
  if held + qty > limit then
    redis.call('HSET', users, rate_field, rate_value)
    return refuse('limit_reached')
  end

  remaining = remaining - qty
  taken = taken + qty
  redis.call('HSET', users, uid, held + qty, rate_field, rate_value)
  -- The order's JSON by concatenation (cjson.encode of a table costs as much as two commands): the
  -- order id is the service's own (digits, "-", hex), numbers are formatted as integers, and the
  -- drop's fields ("order_head": drop_id, sku, currency) were encoded once by load.lua.
  local pay_by = now + pay_window
  local order = '{"id":"' .. order_id .. '",' .. head .. ',"user_id":' .. uid .. ',"quantity":' .. qty
    .. ',"amount_cents":' .. string.format('%d', qty * price) .. ',"status":"reserved","created_ms":'
    .. string.format('%d', now) .. ',"pay_by_ms":' .. string.format('%d', pay_by)
    .. ',"paid_ms":false,"fcode":' .. ARGV[a + 5] .. ',"ref":' .. ARGV[a + 6] .. '}'
  redis.call('HSET', orders, order_id, order)
  redis.call('ZADD', deadlines, pay_by, order_id)
  sold[#sold + 1] = order_id
  if has_idem then redis.call('SET', idem, order_id .. '|' .. body_hash, 'EX', idem_ttl) end
  return {'ok', order}
end

local replies = {}
for n = 1, count do replies[n] = purchase(n) end
if taken > 0 then
  remaining = redis.call('HINCRBY', inv, 'remaining', -taken)
  if remaining == 0 then redis.call('HSETNX', inv, 'sold_out_at', now) end
  -- One stream entry for the batch: "i" -> the order ids, space separated.
  redis.call('XADD', stream, '*', 'i', table.concat(sold, ' '))
end
for code, times in pairs(refused) do redis.call('HINCRBY', rejected, code, times) end
return replies
