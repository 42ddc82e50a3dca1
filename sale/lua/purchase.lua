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
KEYS[7] tokver     hash: user id -> token version (the drop's copy of the account-wide versions)
KEYS[8] addr_held  hash: client address tag -> reserved-but-unpaid units it holds in this drop
KEYS[9] admitted   sorted set of the waiting room: user id -> admitted_until ms
KEYS[10] tickets   hash of the waiting room: user id -> ticket status
KEYS[11] queue     hash of the waiting room: counts; "b:" .. user id marks an admitted buyer refused
                   here, "blocked" their count (see queue_poll.lua)
KEYS[11 + n]       purchase n's Idempotency-Key: string "order id|body hash"

ARGV[1] now (ms)   ARGV[2] purchases per second allowed per buyer   ARGV[3] idempotency TTL (s)
ARGV[4] reserved-but-unpaid units one client address may hold in this drop
then 11 per purchase n, from ARGV[5 + 11 * (n - 1)]:
  user id, quantity, new order id, body hash, 1 if it holds a leased F-code,
  F-code hash and referral token (each a JSON string literal, '""' for none),
  1 if the request carried an Idempotency-Key, the token's version (refused when the account's
  version is above it), client address tag (base64url, "" for none), 1 to answer only a known
  Idempotency-Key (the buyer's own order holds the F-code already)

Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process
(run_id): a promoted replica or a restarted server may lack the last acknowledged writes, so the
drop sells again only after the service merged SQL back in (load.lua, which stamps it anew).
Otherwise one reply per purchase, in order:
  {"ok", order JSON}          units taken, order recorded and streamed
  {"dup", order JSON}         the Idempotency-Key was seen with the same body: that order
  {"missing"}                 the drop is not loaded in Redis (rebuild from SQL, then retry)
  {code, remaining}           refused: not_open, sold_out, limit_reached, quantity_over_limit,
                              fcode_quantity, rate_limited, idempotency_key_reused, token_revoked,
                              address_limit, fcode_in_use,
                              not_admitted (waiting room on, no current admission, no F-code)
A successful purchase through the waiting room marks the buyer's ticket done (status "d").

Cost matters here (one hot drop is one Redis core): the batch reads the drop, its buyers' units and
rate windows, token versions and addresses' unpaid units with one command each, and writes each of
them, the orders and their deadlines with one command each at the end; per sale there is no command
left but an Idempotency-Key's GET and SET (and, behind a waiting room, the admission's three).
Attempts are not counted: stats derive them (orders + refusals).
]]
local inv, users, orders, deadlines, stream, rejected = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tokver, addr_held, admitted, tickets, queue = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local now, rate_limit, idem_ttl, addr_cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local PER = 11
local count = (#ARGV - 4) / PER

local f = redis.call('HMGET', inv, 'priority_starts_at', 'starts_at', 'ends_at', 'remaining',
  'per_user_limit', 'pay_window_ms', 'price_cents', 'order_head', 'run_id', 'waiting_room')
if not f[4] or not f[8] then
  local replies = {}
  for n = 1, count do replies[n] = {'missing'} end
  return replies
end
if f[9] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local remaining = tonumber(f[4])
local opens, starts, ends = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local limit, pay_window, price, head = tonumber(f[5]), tonumber(f[6]), tonumber(f[7]), f[8]
local waiting_room = f[10] == '1'
local second = math.floor(now / 1000)
local taken, sold, refused, admissions_used = 0, {}, {}, 0
local unblocked = {}  -- (room) see pass_unit_on

local function refuse(code)
  refused[code] = (refused[code] or 0) + 1
  return {code, remaining}
end

-- What the batch's buyers hold, their rate windows, token versions and addresses' unpaid units are
-- read with one HMGET each for the whole batch and written back once at the end: per sale the script
-- then issues only the order's own writes. Updates go to these tables first, so a buyer or address
-- appearing twice in one batch sees its earlier purchase.
local held, rate, versions, addr_units = {}, {}, {}, {}
local touched_users, touched_addrs = {}, {}
local uids, user_fields, addrs = {}, {}, {}
for n = 1, count do
  local a = 5 + PER * (n - 1)
  local uid, addr = ARGV[a], ARGV[a + 9]
  if versions[uid] == nil then
    versions[uid] = false
    uids[#uids + 1] = uid
    user_fields[#user_fields + 1] = uid
    user_fields[#user_fields + 1] = 'r:' .. uid
  end
  if addr ~= '' and addr_units[addr] == nil then
    addr_units[addr] = 0
    addrs[#addrs + 1] = addr
  end
end
local known = redis.call('HMGET', tokver, unpack(uids))
for i, uid in ipairs(uids) do versions[uid] = known[i] and tonumber(known[i]) or false end
if remaining > 0 then  -- sold out at the start: every purchase is refused before the buyer's state
  local mine = redis.call('HMGET', users, unpack(user_fields))
  for i, uid in ipairs(uids) do
    held[uid] = tonumber(mine[2 * i - 1] or '0')
    rate[uid] = mine[2 * i] or false
  end
  if #addrs > 0 then
    local units = redis.call('HMGET', addr_held, unpack(addrs))
    for i, addr in ipairs(addrs) do addr_units[addr] = tonumber(units[i] or '0') end
  end
end
local new_orders, order_fields, deadline_args = {}, {}, {}

local function purchase(n)
  local a = 5 + PER * (n - 1)
  local uid, qty, order_id, body_hash = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  local has_code, has_idem, idem = ARGV[a + 4] == '1', ARGV[a + 7] == '1', KEYS[11 + n]
  local addr = ARGV[a + 9]

  -- A revoked token (role or password changed, signed out everywhere) buys nothing, retries included.
  local version = versions[uid]
  if version and version > tonumber(ARGV[a + 8]) then return refuse('token_revoked') end

  -- A retry with a known key answers its order, whatever happened to stock since.
  if has_idem then
    local prev = redis.call('GET', idem)
    if prev then
      local sep = string.find(prev, '|', 1, true)
      if string.sub(prev, sep + 1) ~= body_hash then return refuse('idempotency_key_reused') end
      local prev_id = string.sub(prev, 1, sep - 1)
      return {'dup', new_orders[prev_id] or redis.call('HGET', orders, prev_id)}
    end
  end
  -- The code is in this buyer's order already: a retry gets that order (above), nothing else a unit.
  if ARGV[a + 10] == '1' then return refuse('fcode_in_use') end

  if now < opens or now >= ends or (now < starts and not has_code) then return refuse('not_open') end
  if qty > limit then return refuse('quantity_over_limit') end
  if has_code and qty ~= 1 then return refuse('fcode_quantity') end
  if remaining < qty then return refuse('sold_out') end

  local attempts = 1
  local window = rate[uid]
  if window then
    local sep = string.find(window, ':', 1, true)
    if tonumber(string.sub(window, 1, sep - 1)) == second then
      attempts = tonumber(string.sub(window, sep + 1)) + 1
    end
  end
  if attempts > rate_limit then return refuse('rate_limited') end
  rate[uid] = second .. ':' .. attempts
  touched_users[uid] = true
  if held[uid] + qty > limit then return refuse('limit_reached') end
  -- The waiting room: the admission is checked and used up in the same step that takes the unit.
  local gated = waiting_room and not has_code
  if gated then
    local admitted_until = redis.call('ZSCORE', admitted, uid)
    if not admitted_until or tonumber(admitted_until) <= now then return refuse('not_admitted') end
  end
  -- One address's accounts cannot hold a whole drop unpaid (released on pay, expiry and cancel).
  if addr ~= '' then
    if addr_units[addr] + qty > addr_cap then return refuse('address_limit') end
    addr_units[addr] = addr_units[addr] + qty
    touched_addrs[addr] = true
  end

  remaining = remaining - qty
  taken = taken + qty
  held[uid] = held[uid] + qty
  -- The order's JSON by concatenation (cjson.encode of a table costs as much as two commands): the
  -- order id is the service's own (digits, "-", hex), the address tag base64url, numbers are
  -- formatted as integers, and the drop's fields ("order_head": drop_id, sku, currency) were
  -- encoded once by load.lua.
  local pay_by = now + pay_window
  local order = '{"id":"' .. order_id .. '",' .. head .. ',"user_id":' .. uid .. ',"quantity":' .. qty
    .. ',"amount_cents":' .. string.format('%d', qty * price) .. ',"status":"reserved","created_ms":'
    .. string.format('%d', now) .. ',"pay_by_ms":' .. string.format('%d', pay_by)
    .. ',"paid_ms":false,"fcode":' .. ARGV[a + 5] .. ',"ref":' .. ARGV[a + 6] .. ',"addr":"' .. addr .. '"}'
  new_orders[order_id] = order
  order_fields[#order_fields + 1] = order_id
  order_fields[#order_fields + 1] = order
  deadline_args[#deadline_args + 1] = pay_by
  deadline_args[#deadline_args + 1] = order_id
  sold[#sold + 1] = order_id
  if has_idem then redis.call('SET', idem, order_id .. '|' .. body_hash, 'EX', idem_ttl) end
  if gated then
    redis.call('ZREM', admitted, uid)
    redis.call('HSET', tickets, uid, 'd')
    admissions_used = admissions_used + 1
    unblocked[#unblocked + 1] = 'b:' .. uid  -- (room) a refused buyer that buys now: its mark goes
  end
  return {'ok', order}
end

-- (room) A refusal never wastes an admission, nor holds its unit: an admitted buyer refused for any
-- reason but rate_limited keeps its admission, marked "b:" .. uid in the queue hash (their count in
-- "blocked"), and queue_poll.lua admits the next in line in its place. (not_admitted: no admission;
-- sold_out: no unit to pass on.) The mark goes when the buyer buys (below) or the admission ends.
local KEEPS_UNIT = {ok = true, dup = true, rate_limited = true, not_admitted = true, sold_out = true}
local function pass_unit_on(uid)
  local until_ms = redis.call('ZSCORE', admitted, uid)
  if until_ms and tonumber(until_ms) > now and redis.call('HSETNX', queue, 'b:' .. uid, 1) == 1 then
    redis.call('HINCRBY', queue, 'blocked', 1)
  end
end

local replies = {}
for n = 1, count do
  replies[n] = purchase(n)
  if waiting_room and not KEEPS_UNIT[replies[n][1]] then pass_unit_on(ARGV[5 + PER * (n - 1)]) end
end
local user_updates = {}
for uid in pairs(touched_users) do
  user_updates[#user_updates + 1] = uid
  user_updates[#user_updates + 1] = held[uid]
  user_updates[#user_updates + 1] = 'r:' .. uid
  user_updates[#user_updates + 1] = rate[uid]
end
if #user_updates > 0 then redis.call('HSET', users, unpack(user_updates)) end
local addr_updates = {}
for addr in pairs(touched_addrs) do
  addr_updates[#addr_updates + 1] = addr
  addr_updates[#addr_updates + 1] = addr_units[addr]
end
if #addr_updates > 0 then redis.call('HSET', addr_held, unpack(addr_updates)) end
if taken > 0 then
  redis.call('HSET', orders, unpack(order_fields))
  redis.call('ZADD', deadlines, unpack(deadline_args))
  remaining = redis.call('HINCRBY', inv, 'remaining', -taken)
  redis.call('HINCRBY', inv, 'reserved', taken)
  if remaining == 0 then redis.call('HSETNX', inv, 'sold_out_at', now) end
  -- One stream entry for the batch: "i" -> the order ids, space separated.
  redis.call('XADD', stream, '*', 'i', table.concat(sold, ' '))
end
if admissions_used > 0 then redis.call('HINCRBY', queue, 'done', admissions_used) end
if #unblocked > 0 then  -- (room)
  local marks = redis.call('HDEL', queue, unpack(unblocked))
  if marks > 0 then redis.call('HINCRBY', queue, 'blocked', -marks) end
end
for code, times in pairs(refused) do redis.call('HINCRBY', rejected, code, times) end
return replies
