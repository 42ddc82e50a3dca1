--[[ waitlist_join.lua: one account joins, leaves or looks at a drop's waitlist after sell-out, in one step.

KEYS[1] inv       hash of the drop: "remaining", "ends_at", "per_user_limit", "draw", "run_id", and the
                  waitlist's fields: "wl_seq" (the last join number given), "wl_held" (units held for
                  holders), "wl_waiting" (accounts waiting: the sorted set's size), "wl_joined", "wl_left",
                  "wl_passed" (counts)
KEYS[2] waitlist  sorted set: waiting user id -> join number (position = rank + 1)
KEYS[3] holds     hash: user id -> "units|until ms|hold number" of each hold not claimed or passed yet
KEYS[4] users     hash of the drop's buyers: user id -> units held (reserved + paid)

ARGV[1] now (ms)   ARGV[2] action: "join", "leave" or "look"   ARGV[3] user id

The drop is sold out for a newcomer when no unit is left beyond those held for holders and one per
account waiting (remaining - wl_held - wl_waiting <= 0: what purchase.lua lets a buyer without a hold
take). Joining again answers the same place; an account whose hold stands answers that hold.
Returns {"fenced"} (the drop's state was stamped by another server process, see purchase.lua: nothing
done), {"missing"} (the drop is not loaded), or one of
  {"waiting", position}        on the waitlist (joined now or before)
  {"held", units, until ms}    a unit is held for this account until then
  {"none"}                     look or leave: not on the waitlist and no standing hold
  {"left"}                     leave: taken off the waitlist, or its hold given up (passed on)
  {"not_sold_out", units}      join: units anyone may still buy
  {"closed"}                   join: the drop has ended, or is a draw (its backups take returned units)
  {"limit_reached"}            join: the account holds the drop's per-user limit already
]]
local inv, waitlist, holds, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, action, uid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local f = redis.call('HMGET', inv, 'remaining', 'ends_at', 'per_user_limit', 'draw', 'run_id', 'wl_held',
  'wl_waiting')
if not f[1] then return {'missing'} end
if f[5] and f[5] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then return {'fenced'} end
local remaining, ends, limit = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local held, waiting = tonumber(f[6] or '0'), tonumber(f[7] or '0')

local hold = redis.call('HGET', holds, uid)
if hold then
  local units, until_ms = string.match(hold, '^(%d+)|(%d+)')
  if tonumber(until_ms) > now then
    if action ~= 'leave' then return {'held', tonumber(units), tonumber(until_ms)} end
    redis.call('HDEL', holds, uid)  -- given up: the unit passes to the next in line
    redis.call('HSET', inv, 'wl_held', math.max(0, held - tonumber(units)))
    redis.call('HINCRBY', inv, 'wl_passed', 1)
    return {'left'}
  end
end
local rank = redis.call('ZRANK', waitlist, uid)
if rank then
  if action ~= 'leave' then return {'waiting', rank + 1} end
  redis.call('ZREM', waitlist, uid)
  redis.call('HSET', inv, 'wl_waiting', redis.call('ZCARD', waitlist))
  redis.call('HINCRBY', inv, 'wl_left', 1)
  return {'left'}
end
if action ~= 'join' then return {'none'} end

if now >= ends or f[4] == '1' then return {'closed'} end
local free = remaining - held - waiting
if free > 0 then return {'not_sold_out', free} end
if tonumber(redis.call('HGET', users, uid) or '0') >= limit then return {'limit_reached'} end
redis.call('ZADD', waitlist, redis.call('HINCRBY', inv, 'wl_seq', 1), uid)
local size = redis.call('ZCARD', waitlist)
redis.call('HSET', inv, 'wl_waiting', size)
redis.call('HINCRBY', inv, 'wl_joined', 1)
return {'waiting', size}
