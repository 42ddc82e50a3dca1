--[[ pay_event.lua: apply a provider's verified notice (or its answer to a close or a query) to an order.

KEYS[1] inv        hash of the drop (counters)
KEYS[2] orders     hash: order id -> order JSON
KEYS[3] deadlines  sorted set: order id -> pay-by ms
KEYS[4] stream     stream of order events for the SQL sink ({"i", order id})
KEYS[5] users      hash of the drop's buyers: "a:" .. client address tag -> reserved-but-unpaid units
KEYS[6] refunds_due sorted set: order id -> ms its refund became due (the sweeper retries these)
KEYS[7] notices    hash: provider .. ":" .. event id -> outcome (each notice applied and recorded once)

ARGV[1] order id   ARGV[2] "succeeded", "failed" or "canceled"   ARGV[3] now (ms)
ARGV[4] the intent the notice is about   ARGV[5] share token minted for a paid order ("" for none)
ARGV[6] provider   ARGV[7] the notice's event id ("" for an answer to a close or a query: not a notice)

A notice is recorded in the same step as its effect: its outcome in `notices` (a redelivery answers
"seen" and changes nothing) and an entry {"n": JSON} on the order stream, from which the SQL sink
writes the payment_events row; so answering the provider never waits on SQL.

Notices come late, twice and out of order: each is applied only where it moves the order forward.
Returns {"fenced"} (nothing done) when the drop's state was stamped by another server process;
{"not_found"}; else {outcome, order JSON} with outcome
  "paid"        succeeded: the reserved order is paid (even past its pay-by: the provider took the
                money, so the unit is this buyer's; expiry never released it, see release.lua)
  "refund_due"  succeeded for an order whose units went back anyway (cancelled by an operator, or
                a provider that said "closed" and charged): the caller refunds it; streamed
  "failed"      the payment failed; the order waits for another try until its pay-by
  "canceled"    the provider closed the payment: nothing can be charged any more
  "stale"       a notice about another intent than the order's current one (the caller refunds a
                succeeded one: a second charge)
  "unchanged"   overtaken by a later state
  "seen"        this notice was applied before (nothing changes)
]]
local run_id = redis.call('HGET', KEYS[1], 'run_id')
if run_id and run_id ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'not_found'} end
local notice = ARGV[7] ~= '' and (ARGV[6] .. ':' .. ARGV[7]) or nil
if notice and redis.call('HEXISTS', KEYS[7], notice) == 1 then return {'seen', raw} end
local order = cjson.decode(raw)
local kind, now = ARGV[2], tonumber(ARGV[3])

local function save()
  raw = cjson.encode(order)
  redis.call('HSET', KEYS[2], ARGV[1], raw)
  redis.call('XADD', KEYS[4], '*', 'i', ARGV[1])
end

local function apply()
  -- The process stopped between the provider's answer and pay_record.lua: the notice names the intent.
  if order.pay_intent == '' and order.pay_status == 'pending' then order.pay_intent = ARGV[4] end
  if (order.pay_intent or '') ~= ARGV[4] then
    if kind == 'succeeded' and order.payment_ref ~= ARGV[4] then return 'stale' end
    return 'unchanged'
  end
  local live = order.status == 'reserved' or order.status == 'paying'
  if kind == 'succeeded' then
    if order.pay_status == 'succeeded' or order.pay_status == 'refunded' then return 'unchanged' end
    order.pay_status = 'succeeded'
    order.payment_ref = ARGV[4]
    if not live then
      if order.refund then return 'unchanged' end
      order.refund = 'pending'
      redis.call('ZADD', KEYS[6], now, ARGV[1])
      save()
      return 'refund_due'
    end
    order.status = 'paid'
    order.paid_ms = now
    if ARGV[5] ~= '' then order.share = ARGV[5] end
    redis.call('HINCRBY', KEYS[1], 'reserved', -order.quantity)
    redis.call('HINCRBY', KEYS[1], 'paid', order.quantity)
    redis.call('ZREM', KEYS[3], ARGV[1])
    if order.addr and order.addr ~= '' then
      local field = 'a:' .. order.addr
      if redis.call('HINCRBY', KEYS[5], field, -order.quantity) <= 0 then redis.call('HDEL', KEYS[5], field) end
    end
    save()
    return 'paid'
  end
  if order.pay_status ~= 'pending' and order.pay_status ~= 'failed' then return 'unchanged' end
  if kind == 'failed' then
    if order.pay_status == 'failed' then return 'unchanged' end
    order.pay_status = 'failed'
  else
    order.pay_status = 'canceled'
    -- Past its pay-by the order waits only for this: the next sweep releases it (release.lua).
    if live and now >= order.pay_by_ms then redis.call('ZADD', KEYS[3], now, ARGV[1]) end
  end
  save()
  return kind
end

local outcome = apply()
if notice then
  redis.call('HSET', KEYS[7], notice, outcome)
  redis.call('PEXPIRE', KEYS[7], 5 * 24 * 3600 * 1000)  -- providers resend for up to 3 days
  redis.call('XADD', KEYS[4], '*', 'n', cjson.encode({provider = ARGV[6], event_id = ARGV[7], kind = kind,
    intent = ARGV[4], order_id = ARGV[1], outcome = outcome, at_ms = now}))
end
return {outcome, raw}
