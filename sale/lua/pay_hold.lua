--[[ pay_hold.lua: start paying a reserved order; while the payment runs the order cannot expire.

KEYS[1] orders     hash: order id -> order JSON
KEYS[2] deadlines  sorted set: order id -> pay-by ms (here: the payment lease's end)
KEYS[3] tokver     hash: user id -> token version (the drop's copy of the account-wide versions)

ARGV[1] order id   ARGV[2] buyer's user id   ARGV[3] now (ms)   ARGV[4] lease (ms)
ARGV[5] the token's version (refused when the account's version is above it)

Returns {"token_revoked"} for a revoked token (role or password changed, signed out everywhere),
checked first, in the same round trip, as purchase.lua does; else {state, order JSON} with state one of
  "held"       the order is now "paying" until the lease ends (then the sweeper sets it back)
  "paid"       already paid: nothing more to charge
  "busy"       another payment of this order is running
  "due"        reserved but past its pay-by: the caller expires it
  "expired" | "cancelled"
or {"not_found"} when the order is unknown or not this buyer's.
]]
local version = redis.call('HGET', KEYS[3], ARGV[2])
if version and tonumber(version) > tonumber(ARGV[5]) then return {'token_revoked'} end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if tostring(order.user_id) ~= ARGV[2] then return {'not_found'} end
if order.status ~= 'reserved' then return {order.status == 'paying' and 'busy' or order.status, raw} end
local now = tonumber(ARGV[3])
if now >= order.pay_by_ms then return {'due', raw} end
order.status = 'paying'
raw = cjson.encode(order)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
return {'held', raw}
