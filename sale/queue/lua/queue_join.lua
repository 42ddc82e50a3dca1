--[[ queue_join.lua: put one buyer in a drop's waiting room (idempotent per account).

KEYS[1] inv       hash of the drop: waiting_room, queue_opens_at, starts_at, ends_at, remaining, challenge
KEYS[2] queue     hash: seq (arrival counter after starts_at), joined
KEYS[3] line      sorted set: waiting user id -> place
KEYS[4] seen      sorted set: waiting user id -> last poll (ms)
KEYS[5] tickets   hash: user id -> ticket status
KEYS[6] address   string: tickets this client address enrolled in the window
KEYS[7] account   string: this account's join attempts in the current minute
KEYS[8] joins     string: joins in the current second (challenge difficulty follows it)
KEYS[9] solution  string: marks the presented challenge solution used

ARGV[1] now (ms)            ARGV[2] user id
ARGV[3] random place, 0 <= x < 2^52, drawn from a CSPRNG by the caller (used before starts_at)
ARGV[4] 1 if the caller verified a challenge solution    ARGV[5] its lifetime (s): how long it stays used
ARGV[6] tickets per address per window    ARGV[7] that window (s)    ARGV[8] attempts per account a minute

Before starts_at a place is the random draw: the pre-queue is a uniform shuffle at starts_at
without a step that shuffles. From starts_at places are 2^52 + arrival number: behind all of it.
Returns {"missing"} | {"off"} | {"joined"} | {"exists"} | {code}: rate_limited, queue_not_open,
challenge_failed, sold_out.
]]
local inv, queue, line, seen, tickets, address, account, joins, solution =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local now, uid = tonumber(ARGV[1]), ARGV[2]

local f = redis.call('HMGET', inv, 'waiting_room', 'queue_opens_at', 'starts_at', 'ends_at', 'remaining',
  'challenge')
if not f[1] then return {'missing'} end
if f[1] ~= '1' then return {'off'} end

local attempts = redis.call('INCR', account)
if attempts == 1 then redis.call('EXPIRE', account, 60) end
if attempts > tonumber(ARGV[8]) then return {'rate_limited'} end

if now < tonumber(f[2]) or now >= tonumber(f[4]) then return {'queue_not_open'} end
if f[6] == '1' then
  if ARGV[4] ~= '1' then return {'challenge_failed'} end
  if not redis.call('SET', solution, '1', 'NX', 'EX', tonumber(ARGV[5])) then return {'challenge_failed'} end
end
if redis.call('HEXISTS', tickets, uid) == 1 then return {'exists'} end
if tonumber(f[5]) <= 0 then return {'sold_out'} end

local enrolled = redis.call('INCR', address)
if enrolled == 1 then redis.call('EXPIRE', address, tonumber(ARGV[7])) end
if enrolled > tonumber(ARGV[6]) then
  redis.call('DECR', address)
  return {'rate_limited'}
end

local place
if now < tonumber(f[3]) then
  place = tonumber(ARGV[3])
else
  place = 4503599627370496 + redis.call('HINCRBY', queue, 'seq', 1)
end
redis.call('ZADD', line, place, uid)
redis.call('ZADD', seen, now, uid)
redis.call('HSET', tickets, uid, 'w')
redis.call('HINCRBY', queue, 'joined', 1)
if redis.call('INCR', joins) == 1 then redis.call('EXPIRE', joins, 5) end
return {'joined'}
