--[[ draw_publish.lua: the draw's winners and backups put where the purchase script reads them.

Called in chunks by the one process that made the draw (after its SQL transaction committed), the last
chunk with ARGV[1] = "1", which marks the drop drawn: purchases by winners need their row here, and
nothing reads "drawn" before every row is in. Also used to put the results back from SQL after Redis
lost them (the rows then carry each one's current status).

KEYS[1] inv      hash of the drop: "drawn", "promised" (wins not bought yet: units no one else may
                 take), "draw_winners", "draw_backups"
KEYS[2] results  hash: user id -> "status|rank|buy_until ms|entry id" (status won, backup, bought, lapsed)
KEYS[3] due      sorted set: user id -> buy_until ms of each win not bought yet
KEYS[4] backups  sorted set: user id -> rank of each backup still waiting for a turn

ARGV[1] "1" on the last chunk     ARGV[2] wins not bought yet (promised)
ARGV[3] winners    ARGV[4] backups named
then 5 per row: user id, status, rank, buy_until ms (0 for none), entry id
Returns {"drawn"} (already marked: nothing written) or {"ok", rows written}.
]]
local inv, results, due, backups = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', inv, 'drawn') == '1' then return {'drawn'} end
local rows = 0
for i = 5, #ARGV, 5 do
  local uid, status, rank, until_ms, eid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  redis.call('HSET', results, uid, status .. '|' .. rank .. '|' .. until_ms .. '|' .. eid)
  if status == 'won' then
    redis.call('ZADD', due, until_ms, uid)
  elseif status == 'backup' then
    redis.call('ZADD', backups, rank, uid)
  end
  rows = rows + 1
end
if ARGV[1] == '1' then
  redis.call('HSET', inv, 'drawn', 1, 'promised', ARGV[2], 'draw_winners', ARGV[3], 'draw_backups', ARGV[4])
end
return {'ok', rows}
