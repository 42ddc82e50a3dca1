--[[ share_view.lua: count one view of a share link, at most once per visitor per window.

KEYS[1] seen   string: exists while this visitor's last counted view is within the window
KEYS[2] views  hash: "views" | "crawler_views" -> count

ARGV[1] the field to count ("views" or "crawler_views")   ARGV[2] the window (seconds)

Both keys carry the link's hash tag, so this is one slot in a cluster.
Returns 1 when the view was counted, 0 when this visitor was counted already in the window.
]]
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[2])) then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  return 1
end
return 0
