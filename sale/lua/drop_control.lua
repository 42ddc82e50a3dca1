--[[ drop_control.lua: an operator's change to a loaded drop, in one step (sale/admin/controls.py):
pause or resume, a message, new times, limits or rate, and live stock.

KEYS[1] inv        hash of the drop: counters, phase times (ms), limits, paused, notice; "v:" .. sku, a
                   variant's units left

ARGV[1] now (ms)
ARGV[2] the drop's new stock, or "" to leave it: "remaining" moves by the difference with the stock
        Redis holds now (so a stock that ever drifted from the record is set right too), refused when
        that would take "remaining" below 0: units reserved or paid stay sold
ARGV[3] on a drop with variants, the variant whose stock that is ("" for none): its units left move by
        the same difference, refused too when that would take them below 0
ARGV[4..] field, value pairs of inv to set (priority_starts_at, starts_at, ends_at, queue_opens_at in
        ms; per_user_limit, admit_per_second; paused "1"/"0"; notice, "" for none)

The stock check and every write happen together: a purchase runs before or after this, never in
between, so remaining + reserved + paid == stock holds throughout.
Returns {"fenced"} (state stamped by another server process, see purchase.lua: nothing done),
{"missing"} (the drop is not loaded: nothing done), {"stock_conflict", remaining} (nothing done), or
{"ok", remaining, stock}.
]]
local inv = KEYS[1]
local f = redis.call('HMGET', inv, 'remaining', 'stock', 'run_id')
if not f[1] then return {'missing'} end
if f[3] and f[3] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local remaining, stock = tonumber(f[1]), tonumber(f[2])
if ARGV[2] ~= '' then
  local target = tonumber(ARGV[2])
  local change = target - stock
  if remaining + change < 0 then return {'stock_conflict', remaining} end
  local variant_left = nil
  if ARGV[3] ~= '' then
    variant_left = tonumber(redis.call('HGET', inv, 'v:' .. ARGV[3]))
    if not variant_left then return {'missing'} end
    if variant_left + change < 0 then return {'stock_conflict', variant_left} end
  end
  if change ~= 0 then
    remaining = redis.call('HINCRBY', inv, 'remaining', change)
    if variant_left then redis.call('HINCRBY', inv, 'v:' .. ARGV[3], change) end
    stock = target
    redis.call('HSET', inv, 'stock', stock)
    -- sold_out_at is when the last unit went: units added bring the drop back, taking the last sets it.
    if remaining > 0 then
      redis.call('HDEL', inv, 'sold_out_at')
    else
      redis.call('HSETNX', inv, 'sold_out_at', ARGV[1])
    end
  end
end
if #ARGV > 3 then redis.call('HSET', inv, unpack(ARGV, 4)) end
return {'ok', remaining, stock}
