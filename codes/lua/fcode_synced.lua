--[[ fcode_synced.lua: SQL caught up with these codes: unmark them, unless they changed again.

KEYS[1] dirty   hash: code lookup hash -> marker of its latest unsynced change
ARGV    pairs of code lookup hash, marker that was read before the SQL write

Returns how many codes were unmarked.
]]
local done = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    done = done + 1
  end
end
return done
