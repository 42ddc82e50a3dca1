--[[ waitlist_offer.lua: holds past their time pass on; units no hold covers go to the waitlist in order.

KEYS[1] inv       hash of the drop: "remaining", "ends_at", "per_user_limit", "paused", "run_id",
                  "wl_hold_ms" (how long a hold lasts), and the waitlist's fields (waitlist_join.lua):
                  "wl_held", "wl_waiting", "wl_hold_seq" (the last hold number given), "wl_offered",
                  "wl_passed", "wl_skipped" (counts)
KEYS[2] waitlist  sorted set: waiting user id -> join number
KEYS[3] holds     hash: user id -> "units|until ms|hold number"
KEYS[4] users     hash of the drop's buyers: user id -> units held (reserved + paid)
KEYS[5] stream    the drop's order stream: {"w": JSON list of the holds made} for the SQL sink, which
                  writes each holder's "waitlist_hold" message (keyed by drop, account and hold number)

ARGV[1] now (ms)   ARGV[2] at most this many holds made a call

Units come back (expiry, cancel, refund: release.lua, refund.lua) without knowing of the waitlist:
purchase.lua keeps them for it (a buyer without a hold takes only remaining - wl_held - wl_waiting).
This step then: removes holds whose until passed (counted passed, their units free again); sets
"wl_held" to the units of the holds that stand (so the counter mends itself); and while the drop has
not ended and is not paused, gives each free unit (remaining - wl_held) to the first account waiting:
a hold of one unit until now + wl_hold_ms. A waiter holding the per-user limit already is taken off
(counted skipped): it could not buy. Runs in every worker's sweeper: each call is one atomic step.
Returns {"fenced"} (nothing done), {"missing"}, or {"ok", holds made, holds passed}.
]]
local inv, waitlist, holds, users, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local f = redis.call('HMGET', inv, 'remaining', 'ends_at', 'per_user_limit', 'paused', 'run_id', 'wl_hold_ms',
  'wl_held', 'wl_waiting')
if not f[1] then return {'missing'} end
if f[5] and f[5] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
if tonumber(f[7] or '0') == 0 and tonumber(f[8] or '0') == 0 and redis.call('EXISTS', holds, waitlist) == 0 then
  return {'ok', 0, 0}  -- no waitlist: the common case, one HMGET and one EXISTS
end
local remaining, ends, limit = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local hold_ms = tonumber(f[6] or '600000')

local held, passed = 0, 0
local standing = redis.call('HGETALL', holds)
for i = 1, #standing, 2 do
  local units, until_ms = string.match(standing[i + 1], '^(%d+)|(%d+)')
  if tonumber(until_ms) <= now then
    redis.call('HDEL', holds, standing[i])
    passed = passed + 1
  else
    held = held + tonumber(units)
  end
end

local made, skipped = {}, 0
if now < ends and f[4] ~= '1' then
  local free = remaining - held
  while free > 0 and #made < most do
    local nxt = redis.call('ZPOPMIN', waitlist)
    if #nxt == 0 then break end
    local uid = nxt[1]
    if tonumber(redis.call('HGET', users, uid) or '0') >= limit then
      skipped = skipped + 1
    else
      local until_ms = string.format('%d', now + hold_ms)
      local number = redis.call('HINCRBY', inv, 'wl_hold_seq', 1)
      redis.call('HSET', holds, uid, '1|' .. until_ms .. '|' .. number)
      held, free = held + 1, free - 1
      made[#made + 1] = '{"user_id":' .. uid .. ',"until_ms":' .. until_ms .. ',"hold":' .. number .. '}'
    end
  end
end

redis.call('HSET', inv, 'wl_held', held, 'wl_waiting', redis.call('ZCARD', waitlist))
if passed > 0 then redis.call('HINCRBY', inv, 'wl_passed', passed) end
if skipped > 0 then redis.call('HINCRBY', inv, 'wl_skipped', skipped) end
if #made > 0 then
  redis.call('HINCRBY', inv, 'wl_offered', #made)
  redis.call('XADD', stream, '*', 'w', '[' .. table.concat(made, ',') .. ']')
end
return {'ok', #made, passed}
