--[[ purchase.lua: take units for a batch of buyers of one drop, in one round trip.

The service sends the purchases of one drop that arrived while its previous call was in flight
(one when the drop is quiet). Each is decided in order exactly as if it came alone, and each sale
writes the state later purchases read as it is decided (the buyer's units held, rate window and
address units; the Idempotency-Key; the admission): a buyer or address appearing twice in a batch
reads its earlier purchase from Redis like any later call would, with no copy of it here. What no
later purchase reads is written once at the end: the new orders (one HSET) and their deadlines (one
ZADD), the drop's counters (remaining, reserved), the refusal counts and the one stream entry naming
the batch's orders. The end writes run ALSO when a purchase raises midway: the loop runs under
pcall, the end writes cover the sales made before the error, then the error is raised again. So a
failure midway (a bad argument, a key of the wrong type) leaves a prefix of complete sales: every
Idempotency-Key names a written order, every written order is in the stream with its deadline, and
remaining + reserved + paid still equals the stock.

KEYS[1] inv        hash of the drop: counters, phase times (ms), limits, price; "paused" ("1" while an
                   operator has paused the drop: every purchase is refused drop_paused); "order_seq", the
                   last order number given (each sale takes the next: "<drop id>-<seq, 5+ digits>");
                   with variants, "variants" (their count), "v:" .. sku -> the variant's units left
                   and "vp:" .. sku -> its price (the drop's remaining is their sum); the waitlist's
                   "wl_held" (units held for waitlisters) and "wl_waiting" (accounts waiting), see below
KEYS[2] users      hash: user id -> units held (reserved + paid); "r:" .. user id -> "second:count",
                   the buyer's purchases in the current second (rate limit); "a:" .. client address
                   tag -> reserved-but-unpaid units it holds in this drop (one read, one write a sale)
KEYS[3] orders     hash: order id -> order JSON (the only copy of the order in Redis)
KEYS[4] deadlines  sorted set: order id -> pay-by ms
KEYS[5] stream     stream of order events for the SQL sink: {"i", order ids space separated}; the
                   sink reads their JSON from the orders hash
KEYS[6] rejected   hash: error code -> count
KEYS[7] admitted   sorted set of the waiting room: user id -> admitted_until ms
KEYS[8] tickets    hash of the waiting room: user id -> ticket status
KEYS[9] queue      hash of the waiting room: counts; "b:" .. user id marks an admitted buyer refused
                   here, "blocked" their count (see queue_poll.lua)
KEYS[10] results   hash of a draw drop: user id -> "status|rank|buy_until ms|entry id" (sale/draw/)
KEYS[11] due       sorted set of a draw drop: user id -> buy_until ms of each win not bought yet
KEYS[12] holds     hash of the waitlist: user id -> "units|until ms|hold number" (sale/waitlist/)
KEYS[12 + n]       purchase n's Idempotency-Key: string "order id|body hash"

ARGV[1] now (ms)   ARGV[2] purchases per second allowed per buyer   ARGV[3] idempotency TTL (s)
ARGV[4] reserved-but-unpaid units one client address may hold in this drop
then #FIELDS per purchase n, from ARGV[5 + #FIELDS * (n - 1)], in the order of FIELDS below (the
same list as sale/purchase_script.py's PURCHASE_FIELDS; a test asserts they agree):
  user_id, quantity, order_id, body_hash,
  has_fcode     1 if it holds a leased F-code
  fcode, ref    the F-code hash and referral token, each a JSON string literal ('""' for none)
  has_idem      1 if the request carried an Idempotency-Key
  address       client address tag (base64url, "" for none)
  answer_only   1 to answer only a known Idempotency-Key (the buyer's own order holds the F-code)
  variant       the variant's sku ("" for none; the route lets only SKU-shaped names through)

Token versions are not checked here: the service checks the token against the account-wide versions
(core/token_versions.py) before it sends the purchase.

Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process
(run_id): a promoted replica or a restarted server may lack the last acknowledged writes, so the
drop sells again only after the service merged SQL back in (load.lua, which stamps it anew).
Otherwise one reply per purchase, in order:
  {"ok", order JSON}          units taken, order recorded and streamed
  {"dup", order JSON}         the Idempotency-Key was seen with the same body: that order
  {"missing"}                 the drop is not loaded in Redis (rebuild from SQL, then retry)
  {code, remaining}           refused: not_open, sold_out, limit_reached, quantity_over_limit,
                              fcode_quantity, rate_limited, idempotency_key_reused,
                              address_limit, fcode_in_use, drop_paused, variant_required, variant_not_found,
                              not_admitted (waiting room on, no current admission, no F-code),
                              not_a_winner (a draw drop: no standing win, no F-code)
A draw drop ("draw" = "1" in inv): without an F-code only an account whose win stands (status "won",
buy_until not passed) buys, and its win becomes "bought" (out of `due`, one unit fewer "promised");
with an F-code only units no win holds (remaining - promised) are taken. Drops that are not draws
pay nothing for this beyond two more fields of the drop's HMGET.
The waitlist (sale/waitlist/, waitlist_offer.lua): units that come back after a sell-out are for the
waitlist first. A buyer without a hold takes only units beyond those held and one per account
waiting (remaining - wl_held - wl_waiting), so a returned unit is never taken by a racing buyer,
even before waitlist_offer.lua has offered it: the scripts that give units back need not know. A
buyer whose hold stands (until not passed) may take its held units besides, needs no admission on a
waiting-room drop, and the sale uses the hold up (wl_held -= its units, "wl_claimed" += 1). A hold is
for any variant that has stock: the drop's total decides, the variant's own units left must cover
the quantity as for anyone. Without holds or waiters this costs two fields of the HMGET; with holds,
one HGET per purchase.
A successful purchase through the waiting room marks the buyer's ticket done (status "d").
A refusal never wastes an admission, nor holds its unit: an admitted buyer refused for any reason but
rate_limited keeps its admission, marked "b:" .. uid in the queue hash (their count in "blocked"), and
queue_poll.lua admits the next in line in its place (not_admitted: there is no admission; sold_out:
there is no unit to pass on). The mark goes when the buyer buys or its admission ends.
Attempts are not counted: stats derive them (orders + refusals).

Cost: per sale one HMGET and one HSET of the buyer's fields (units, rate window, address units, all in
the buyers hash), plus the Idempotency-Key's GET and SET and the admission's commands; per batch the
drop's HMGET, the orders' HSET, the deadlines' ZADD, two HINCRBY, XADD and the fence's INFO.
]]
local FIELDS = {'user_id', 'quantity', 'order_id', 'body_hash', 'has_fcode', 'fcode', 'ref', 'has_idem',
  'address', 'answer_only', 'variant'}
local inv, users, orders, deadlines, stream, rejected = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local admitted, tickets, queue = KEYS[7], KEYS[8], KEYS[9]
local results, due, holds = KEYS[10], KEYS[11], KEYS[12]
local now, rate_limit, idem_ttl, addr_cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local PER = #FIELDS
local AT = {}  -- field name -> its offset within a purchase's arguments
for i, name in ipairs(FIELDS) do AT[name] = i - 1 end
local count = (#ARGV - 4) / PER

local f = redis.call('HMGET', inv, 'priority_starts_at', 'starts_at', 'ends_at', 'remaining',
  'per_user_limit', 'pay_window_ms', 'price_cents', 'order_head', 'run_id', 'waiting_room', 'paused', 'id',
  'order_seq', 'variants', 'draw', 'promised', 'drawn', 'wl_held', 'wl_waiting')
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
local paused = f[11] == '1'
-- Order numbers: the drop's sequence, counted here and written once at the end with the counters.
local drop_id, seq = tonumber(f[12]) or 0, tonumber(f[13] or '0')
-- Variants: each one's units left and price, read once per batch when first asked for, counted here,
-- written once at the end (the drop's limits count across variants: "held" is per buyer).
local has_variants = tonumber(f[14] or '0') > 0
-- A draw drop: wins are checked here; units a standing win holds are not for F-codes.
local is_draw, promised, wins_used = f[15] == '1', tonumber(f[16] or '0'), 0
local drawn = f[17] == '1'
-- The waitlist: units held for waitlisters and accounts waiting are not for buyers without a hold.
local wl_held, wl_waiting, claimed, claimed_units = tonumber(f[18] or '0'), tonumber(f[19] or '0'), 0, 0
local variant_left, variant_price, variant_taken = {}, {}, {}
local second = math.floor(now / 1000)
local taken, sold, refused, admissions_used = 0, {}, {}, 0
-- The batch's new orders and their deadlines: written with one HSET and one ZADD at the end (under
-- the same guard as the counters), read back here by an Idempotency-Key repeated within the batch.
local batch_orders, order_args, deadline_args = {}, {}, {}

local function refuse(code)
  refused[code] = (refused[code] or 0) + 1
  return {code, remaining}
end

local function purchase(n)
  local a = 5 + PER * (n - 1)
  local uid, qty = ARGV[a + AT.user_id], tonumber(ARGV[a + AT.quantity])
  local order_id, body_hash, addr = ARGV[a + AT.order_id], ARGV[a + AT.body_hash], ARGV[a + AT.address]
  local has_code, has_idem, idem = ARGV[a + AT.has_fcode] == '1', ARGV[a + AT.has_idem] == '1', KEYS[12 + n]

  -- A retry with a known key answers its order, whatever happened to stock since.
  if has_idem then
    local prev = redis.call('GET', idem)
    if prev then
      local sep = string.find(prev, '|', 1, true)
      if string.sub(prev, sep + 1) ~= body_hash then return refuse('idempotency_key_reused') end
      local prev_id = string.sub(prev, 1, sep - 1)
      return {'dup', batch_orders[prev_id] or redis.call('HGET', orders, prev_id)}
    end
  end
  -- The code is in this buyer's order already: a retry gets that order (above), nothing else a unit.
  if ARGV[a + AT.answer_only] == '1' then return refuse('fcode_in_use') end
  -- Paused by an operator (sale/admin/): nothing is taken until it resumes.
  if paused then return refuse('drop_paused') end

  if now < opens or now >= ends or (now < starts and not has_code) then return refuse('not_open') end
  local variant, unit_price = ARGV[a + AT.variant], price
  if has_variants then
    if variant == '' then return refuse('variant_required') end
    if variant_left[variant] == nil then
      local v = redis.call('HMGET', inv, 'v:' .. variant, 'vp:' .. variant)
      if not v[1] then return refuse('variant_not_found') end
      variant_left[variant], variant_price[variant] = tonumber(v[1]), tonumber(v[2] or price)
    end
    unit_price = variant_price[variant]
  elseif variant ~= '' then
    return refuse('variant_not_found')
  end
  if qty > limit then return refuse('quantity_over_limit') end
  if has_code and qty ~= 1 then return refuse('fcode_quantity') end
  local hold = 0  -- units of this buyer's standing waitlist hold
  if wl_held > 0 then
    local h = redis.call('HGET', holds, uid)
    if h then
      local units, until_ms = string.match(h, '^(%d+)|(%d+)')
      if tonumber(until_ms) > now then hold = tonumber(units) end
    end
  end
  if remaining < qty or hold + math.max(0, remaining - wl_held - wl_waiting) < qty
      or (has_variants and variant_left[variant] < qty) then
    return refuse('sold_out')
  end
  local win
  if is_draw then
    if has_code then
      if remaining - promised < qty then return refuse('sold_out') end
    elseif not drawn then
      return refuse('not_open')  -- the draw is due but not made yet: nobody has won
    else
      local r = redis.call('HGET', results, uid)
      if r then
        win = {}
        for part in string.gmatch(r .. '|', '([^|]*)|') do win[#win + 1] = part end
      end
      if not win or win[1] == 'bought' then
        if win then return refuse('limit_reached') end
        return refuse('not_a_winner')
      end
      if win[1] ~= 'won' or tonumber(win[3]) <= now then return refuse('not_a_winner') end
    end
  end

  local mine = redis.call('HMGET', users, uid, 'r:' .. uid, 'a:' .. addr)
  local attempts = 1
  local window = mine[2]
  if window then
    local sep = string.find(window, ':', 1, true)
    if tonumber(string.sub(window, 1, sep - 1)) == second then
      attempts = tonumber(string.sub(window, sep + 1)) + 1
    end
  end
  if attempts > rate_limit then return refuse('rate_limited') end
  local held = tonumber(mine[1] or '0')
  if held + qty > limit then
    redis.call('HSET', users, 'r:' .. uid, second .. ':' .. attempts)  -- a refused try counts too
    return refuse('limit_reached')
  end
  -- The waiting room: the admission is checked and used up in the same step that takes the unit.
  local gated = waiting_room and not has_code and hold == 0
  if gated then
    local admitted_until = redis.call('ZSCORE', admitted, uid)
    if not admitted_until or tonumber(admitted_until) <= now then
      redis.call('HSET', users, 'r:' .. uid, second .. ':' .. attempts)
      return refuse('not_admitted')
    end
  end
  -- One address's accounts cannot hold a whole drop unpaid (released on pay, expiry and cancel).
  local units = tonumber(mine[3] or '0')
  if addr ~= '' then
    if units + qty > addr_cap then
      redis.call('HSET', users, 'r:' .. uid, second .. ':' .. attempts)
      return refuse('address_limit')
    end
  end

  -- The order's JSON by concatenation (cjson.encode of a table costs as much as two commands): the
  -- order id is the service's own (digits, "-", hex), the address tag base64url, numbers are
  -- formatted as integers, and the drop's fields ("order_head": drop_id, sku, currency) were
  -- encoded once by load.lua. Everything that can raise is above this line: the writes below
  -- complete the sale together.
  local pay_by = now + pay_window
  seq = seq + 1
  local order = '{"id":"' .. order_id .. '","number":"' .. string.format('%d-%05d', drop_id, seq) .. '",'
    .. head .. ',"user_id":' .. uid .. ',"quantity":' .. qty
    .. ',"amount_cents":' .. string.format('%d', qty * unit_price) .. ',"status":"reserved","created_ms":'
    .. string.format('%d', now) .. ',"pay_by_ms":' .. string.format('%d', pay_by)
    .. ',"paid_ms":false,"fcode":' .. ARGV[a + AT.fcode] .. ',"ref":' .. ARGV[a + AT.ref] .. ',"addr":"' .. addr .. '"'
    .. (has_variants and (',"variant":"' .. variant .. '"') or '') .. '}'
  if addr ~= '' then
    redis.call('HSET', users, uid, held + qty, 'r:' .. uid, second .. ':' .. attempts, 'a:' .. addr, units + qty)
  else
    redis.call('HSET', users, uid, held + qty, 'r:' .. uid, second .. ':' .. attempts)
  end
  batch_orders[order_id] = order
  order_args[#order_args + 1] = order_id
  order_args[#order_args + 1] = order
  deadline_args[#deadline_args + 1] = pay_by
  deadline_args[#deadline_args + 1] = order_id
  if has_idem then redis.call('SET', idem, order_id .. '|' .. body_hash, 'EX', idem_ttl) end
  if hold > 0 then
    redis.call('HDEL', holds, uid)
    wl_held = wl_held - hold
    claimed, claimed_units = claimed + 1, claimed_units + hold
  end
  if win then
    redis.call('HSET', results, uid, 'bought|' .. win[2] .. '|' .. win[3] .. '|' .. win[4])
    redis.call('ZREM', due, uid)
    promised = promised - 1
    wins_used = wins_used + 1
  end
  if gated then
    redis.call('ZREM', admitted, uid)
    redis.call('HSET', tickets, uid, 'd')
    admissions_used = admissions_used + 1
    if redis.call('HDEL', queue, 'b:' .. uid) == 1 then redis.call('HINCRBY', queue, 'blocked', -1) end
  end
  remaining = remaining - qty
  taken = taken + qty
  if has_variants then
    variant_left[variant] = variant_left[variant] - qty
    variant_taken[variant] = (variant_taken[variant] or 0) + qty
  end
  sold[#sold + 1] = order_id
  return {'ok', order}
end

local KEEPS_UNIT = {ok = true, dup = true, rate_limited = true, not_admitted = true, sold_out = true,
  drop_paused = true}
local function pass_unit_on(uid)
  local until_ms = redis.call('ZSCORE', admitted, uid)
  if until_ms and tonumber(until_ms) > now and redis.call('HSETNX', queue, 'b:' .. uid, 1) == 1 then
    redis.call('HINCRBY', queue, 'blocked', 1)
  end
end

local replies = {}
local done, failure = pcall(function()
  for n = 1, count do
    replies[n] = purchase(n)
    if waiting_room and not KEEPS_UNIT[replies[n][1]] then pass_unit_on(ARGV[5 + PER * (n - 1) + AT.user_id]) end
  end
end)
-- The batch's shared writes, for the sales made (all of them, or those before an error).
if taken > 0 then
  redis.call('HSET', orders, unpack(order_args))
  redis.call('ZADD', deadlines, unpack(deadline_args))
  remaining = redis.call('HINCRBY', inv, 'remaining', -taken)
  redis.call('HSET', inv, 'order_seq', seq)
  for variant, units in pairs(variant_taken) do redis.call('HINCRBY', inv, 'v:' .. variant, -units) end
  redis.call('HINCRBY', inv, 'reserved', taken)
  if remaining == 0 then redis.call('HSETNX', inv, 'sold_out_at', now) end
  redis.call('XADD', stream, '*', 'i', table.concat(sold, ' '))
end
if admissions_used > 0 then redis.call('HINCRBY', queue, 'done', admissions_used) end
if wins_used > 0 then redis.call('HINCRBY', inv, 'promised', -wins_used) end
if claimed > 0 then
  redis.call('HINCRBY', inv, 'wl_held', -claimed_units)
  redis.call('HINCRBY', inv, 'wl_claimed', claimed)
end
for code, times in pairs(refused) do redis.call('HINCRBY', rejected, code, times) end
if not done then
  if type(failure) == 'table' and failure.err then return redis.error_reply(failure.err) end
  return redis.error_reply('purchase.lua: ' .. tostring(failure))
end
return replies
