--[[ draw_lapse.lua: wins not bought by their buy_until lapse; units no win holds pass to backups in order.

KEYS[1] inv      hash of the drop: "drawn", "remaining", "promised" (wins not bought yet), "ends_at" (ms)
KEYS[2] results  hash: user id -> "status|rank|buy_until ms|entry id"
KEYS[3] due      sorted set: user id -> buy_until ms of each win not bought yet
KEYS[4] backups  sorted set: user id -> rank of each backup still waiting

ARGV[1] now (ms)   ARGV[2] the drop's pay window (ms): a backup whose turn comes may buy until now + it
ARGV[3] at most this many lapses a call

A unit is free when it is left (remaining) and no standing win holds it: a lapsed win frees its unit, so
does a winner's order that expired or was cancelled (its unit came back to remaining). Each free unit
goes to the first waiting backup while the drop has not ended.
Returns a flat list: "l", user id, rank, entry id for each lapse; "w", user id, rank, entry id,
buy_until ms for each backup whose turn came.
]]
local inv, results, due, backups = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local f = redis.call('HMGET', inv, 'drawn', 'remaining', 'promised', 'ends_at')
if f[1] ~= '1' then return {} end
local remaining, promised, ends = tonumber(f[2]), tonumber(f[3] or '0'), tonumber(f[4])
local out = {}

local function parse(uid)
  local raw = redis.call('HGET', results, uid)
  if not raw then return nil end
  local parts = {}
  for part in string.gmatch(raw .. '|', '([^|]*)|') do parts[#parts + 1] = part end
  return parts
end

for _, uid in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  local r = parse(uid)
  redis.call('ZREM', due, uid)
  if r and r[1] == 'won' then
    redis.call('HSET', results, uid, 'lapsed|' .. r[2] .. '|' .. r[3] .. '|' .. r[4])
    promised = promised - 1
    out[#out + 1] = 'l'; out[#out + 1] = uid; out[#out + 1] = r[2]; out[#out + 1] = r[4]
  end
end
local free = remaining - promised
while free > 0 and now < ends do
  local nxt = redis.call('ZPOPMIN', backups)
  if #nxt == 0 then break end
  local uid = nxt[1]
  local r = parse(uid)
  if r and r[1] == 'backup' then
    local until_ms = string.format('%d', now + window)
    redis.call('HSET', results, uid, 'won|' .. r[2] .. '|' .. until_ms .. '|' .. r[4])
    redis.call('ZADD', due, until_ms, uid)
    promised = promised + 1
    free = free - 1
    out[#out + 1] = 'w'; out[#out + 1] = uid; out[#out + 1] = r[2]; out[#out + 1] = r[4]; out[#out + 1] = until_ms
  end
end
if #out > 0 then redis.call('HSET', inv, 'promised', promised) end
return out
