--[[ queue_poll.lua: advance a waiting room's meter, then answer one buyer's ticket (or the counts).

KEYS[1] inv       hash of the drop: waiting_room, starts_at, remaining, admit_per_second, paused, notice
KEYS[2] queue     hash: budget, last_ms (the meter); done, expired (counts); "b:" .. user id -> 1 for an
                  admitted buyer a purchase refused (purchase.lua), and their count in "blocked"
KEYS[3] line      sorted set: waiting user id -> place
KEYS[4] seen      sorted set: waiting user id -> last poll (ms)
KEYS[5] admitted  sorted set: user id -> admitted_until (ms)
KEYS[6] tickets   hash: user id -> w(aiting), a(dmitted), d(one), x (expired)

ARGV[1] now (ms)     ARGV[2] user id ("" for the counts only)     ARGV[3] admission window (ms)
ARGV[4] stale after (ms): a waiting ticket not polled for this long leaves the line as expired
ARGV[5] most tickets handled per step of each kind (bounds the script's time)

The meter: from starts_at a budget grows by admit_per_second per second while units are left
and pays for admitting the front of the line, never more admissions at once than units left; an empty line banks nothing, and a step after a
long pause pays back at most BURST_SECONDS' worth. Each admission is stamped with the moment it
was due, so the rate per second stays exact however late a step runs. Stale tickets found at the front are expired without using budget: the counter
never waits on them. Every caller (polls, the background loop) advances it; it is time-based, so
how often it runs changes nothing.

A refusal never wastes an admission, and never holds a unit: an admitted buyer that a purchase
refused (address_limit, limit_reached...: purchase.lua marks it "b:" .. id) keeps its admission until
admitted_until but is not counted against the units left, so the next in line is admitted at once.
The mark goes when that buyer buys (purchase.lua) or its admission ends (here).

While an operator has paused the drop ("paused" = "1" in inv) nobody is admitted and the budget does
not grow (a resume starts at the metered pace); admissions already given keep running out.

Returns {"missing"} (drop not loaded) | {"off"} (no waiting room) |
  {status, position, admitted_until, admit_per_second, waiting, starts_at, admitted, done, expired, free,
   paused (0/1), notice (the operator's message, "" for none)}
  status: none, waiting, sold_out, admitted, done, expired; position and admitted_until -1 if none
  (position is -1 before starts_at: places are drawn then); free: units left that no admitted buyer
  holds after this step (a waiting ticket placed beyond them waits for units to come back).
]]
local inv, queue, line, seen, admitted, tickets = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, uid = tonumber(ARGV[1]), ARGV[2]
local BURST_SECONDS = 5  -- a step after a long pause (a stalled server) pays at most this much back
local window, stale, batch = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local f = redis.call('HMGET', inv, 'waiting_room', 'starts_at', 'remaining', 'admit_per_second', 'paused',
  'notice')
if not f[1] then return {'missing'} end
if f[1] ~= '1' then return {'off'} end
local starts, remaining, rate = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local paused = f[5] == '1'

local mine = uid ~= '' and redis.call('HGET', tickets, uid) or false
if mine == 'w' then redis.call('ZADD', seen, 'XX', now, uid) end

local function expire(who)
  redis.call('HSET', tickets, who, 'x')
  redis.call('HINCRBY', queue, 'expired', 1)
end

-- Admitted buyers that hold a unit: the admitted ones but those a purchase refused.
local function holding()
  local all = redis.call('ZCARD', admitted)
  local blocked = tonumber(redis.call('HGET', queue, 'blocked') or '0')
  return all - math.max(0, math.min(blocked, all))
end

if now >= starts then
  local gone = redis.call('ZRANGEBYSCORE', admitted, '-inf', now, 'LIMIT', 0, batch)
  local unblocked = 0
  for _, who in ipairs(gone) do
    redis.call('ZREM', admitted, who)
    unblocked = unblocked + redis.call('HDEL', queue, 'b:' .. who)
    expire(who)
  end
  if unblocked > 0 then redis.call('HINCRBY', queue, 'blocked', -unblocked) end
  local quiet = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. (now - stale), 'LIMIT', 0, batch)
  for _, who in ipairs(quiet) do
    redis.call('ZREM', line, who)
    redis.call('ZREM', seen, who)
    expire(who)
  end

  local m = redis.call('HMGET', queue, 'budget', 'last_ms')
  local budget, last = tonumber(m[1] or '0'), tonumber(m[2] or starts)
  if last < starts then last = starts end
  local budget_before, last_before = budget, last
  if now > last then
    if remaining > 0 and not paused then budget = math.min(budget + (now - last) * rate / 1000, BURST_SECONDS * math.max(rate, 1)) end
    redis.call('HSET', queue, 'last_ms', now)
  end
  -- Admissions never outnumber the units left: an admitted buyer is not sent to a sold-out race,
  -- and the shuffled order alone decides who buys. Unused admissions free their unit on expiry; a
  -- refused one at once (it keeps its admission, but no longer holds a unit against the line).
  local free = remaining - holding()
  if free > 0 and not paused then
    local looked, taken = 0, 0
    while budget >= 1 and looked < batch and taken < free do
      local front = redis.call('ZPOPMIN', line)
      if #front == 0 then break end
      looked = looked + 1
      local who = front[1]
      local last_seen = tonumber(redis.call('ZSCORE', seen, who) or '0')
      redis.call('ZREM', seen, who)
      if last_seen < now - stale then
        expire(who)
      else
        -- Stamped with the moment the meter owed this admission, not with when this step ran:
        -- a late step (a busy server) admits what was due, and the rate per second stays exact.
        taken = taken + 1
        local due = last_before + (taken - budget_before) * 1000 / rate
        if due < last_before then due = last_before end
        if due > now then due = now end
        redis.call('ZADD', admitted, due + window, who)
        redis.call('HSET', tickets, who, 'a')
        budget = budget - 1
      end
    end
  end
  -- With nobody left to admit nothing is banked: a later crowd starts at the metered pace.
  if redis.call('ZCARD', line) == 0 and budget > 1 then budget = 1 end
  redis.call('HSET', queue, 'budget', tostring(budget))
end

local status, position, until_ms = 'none', -1, -1
if uid ~= '' then
  mine = redis.call('HGET', tickets, uid)
  if mine == 'w' then
    status = remaining > 0 and 'waiting' or 'sold_out'
    if now >= starts then position = redis.call('ZRANK', line, uid) + 1 end
  elseif mine == 'a' then
    local score = tonumber(redis.call('ZSCORE', admitted, uid) or '0')
    if score > now then status, until_ms = 'admitted', score else status = 'expired' end
  elseif mine == 'd' then
    status = 'done'
  elseif mine == 'x' then
    status = 'expired'
  end
end
local counts = redis.call('HMGET', queue, 'done', 'expired')
return {status, position, until_ms, rate, redis.call('ZCARD', line), starts, redis.call('ZCARD', admitted),
  tonumber(counts[1] or '0'), tonumber(counts[2] or '0'), remaining - holding(), paused and 1 or 0, f[6] or ''}
