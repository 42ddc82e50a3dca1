--[[ catalog_sync.lua: make the drop catalog hold the drops SQL holds, unless an operator changed the
catalog since SQL was read (checked and written in one step: a change landing between a check and a
write would be undone).

KEYS[1] catalog   hash: drop id -> the drop's JSON (every worker's listing reads it)
KEYS[2] version   string: bumped on every change; workers re-read the catalog when it moves

ARGV[1] "1" to write only if the version is still ARGV[2], "0" to write whatever it is now
ARGV[2] the version read before the drops were read from SQL ("" when there was none)
ARGV[3] n, the number of drops to set; then n pairs (drop id, drop JSON); then the drop ids to remove

Returns 1 when written (the version bumped), 0 when the version had moved: an operator's change
committed after the SQL read, which these drops would undo; the next check syncs instead.
]]
if ARGV[1] == '1' and (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
local n = tonumber(ARGV[3])
local CHUNK = 500  -- unpack's arguments stay well inside Lua's stack
local first, last = 4, 3 + 2 * n
for i = first, last, 2 * CHUNK do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 2 * CHUNK - 1, last)))
end
for i = last + 1, #ARGV, CHUNK do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + CHUNK - 1, #ARGV)))
end
redis.call('INCR', KEYS[2])
return 1
