--[[ draw_entry.lua: one account's entry in a draw drop entered, withdrawn or voided, in one step.

KEYS[1] inv      hash of the drop: "draw" ("1" on a draw drop), "entries_open_ms", "entries_close_ms",
                 "drawn" ("1" once the draw is made), "entered" (entries standing), "voided", "id"
KEYS[2] entries  hash: user id -> "entry id|status|address tag|variant" (status e(ntered), w(ithdrawn),
                 v(oided)); "a:" .. address tag -> entries standing from that client address
KEYS[3] stream   the drop's order stream: {"e": entry JSON} for the SQL sink (sale/draw/recorder.py)

ARGV[1] now (ms)   ARGV[2] action: "enter", "withdraw" or "void" (an operator, before the draw)
ARGV[3] user id    ARGV[4] a new entry id (used only when the account has none in this drop)
ARGV[5] client address tag (base64url, "" for none)   ARGV[6] entries one address may hold
ARGV[7] variant sku ("" for none; SKU-shaped, checked by the caller)

An account has one entry per drop: entering again answers the same entry (and re-entering after a
withdrawal brings back the same id). Returns
  {"missing"} (the drop is not loaded)   {"not_a_draw"}   {"entries_closed"} (outside the window)
  {"entered", entry id, status}          a new or re-entered entry
  {"exists", entry id, status}           entering again: the same entry ("e", or "v" if voided)
  {"address_limit"}                      this client address holds its cap of entries
  {"withdrawn", entry id} | {"voided", entry id} | {"not_entered"} | {"drawn"} (void after the draw)
]]
local inv, entries, stream = KEYS[1], KEYS[2], KEYS[3]
local now, action, uid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local f = redis.call('HMGET', inv, 'remaining', 'draw', 'entries_open_ms', 'entries_close_ms', 'drawn', 'id')
if not f[1] then return {'missing'} end
if f[2] ~= '1' then return {'not_a_draw'} end
local opens, closes, drawn, drop_id = tonumber(f[3]), tonumber(f[4]), f[5] == '1', f[6]

local eid, status, addr, variant
local have = redis.call('HGET', entries, uid)
if have then
  local parts = {}
  for part in string.gmatch(have .. '|', '([^|]*)|') do parts[#parts + 1] = part end
  eid, status, addr, variant = parts[1], parts[2], parts[3], parts[4]
end

local NAMES = {e = 'entered', w = 'withdrawn', v = 'voided'}
local function record(st)
  redis.call('HSET', entries, uid, eid .. '|' .. st .. '|' .. addr .. '|' .. variant)
  -- The entry's JSON by concatenation: ids are hex, the tag base64url, the variant SKU-shaped.
  redis.call('XADD', stream, '*', 'e', '{"id":"' .. eid .. '","drop_id":' .. drop_id .. ',"user_id":' .. uid
    .. ',"status":"' .. NAMES[st] .. '","addr":"' .. addr .. '","variant":"' .. variant .. '","ms":'
    .. string.format('%d', now) .. '}')
end

if action == 'enter' then
  if have and status ~= 'w' then return {'exists', eid, status} end
  if now < opens or now >= closes or drawn then return {'entries_closed'} end
  addr, variant = ARGV[5], ARGV[7]
  if addr ~= '' then
    if redis.call('HINCRBY', entries, 'a:' .. addr, 1) > tonumber(ARGV[6]) then
      redis.call('HINCRBY', entries, 'a:' .. addr, -1)
      return {'address_limit'}
    end
  end
  eid = eid or ARGV[4]
  redis.call('HINCRBY', inv, 'entered', 1)
  record('e')
  return {'entered', eid, 'e'}
elseif action == 'withdraw' then
  if not have or status == 'w' then return {'not_entered'} end
  if now >= closes or drawn or status == 'v' then return {'entries_closed'} end
  if addr ~= '' then redis.call('HINCRBY', entries, 'a:' .. addr, -1) end
  redis.call('HINCRBY', inv, 'entered', -1)
  record('w')
  return {'withdrawn', eid}
elseif action == 'void' then
  if drawn then return {'drawn'} end
  if not have or status ~= 'e' then return {'not_entered'} end
  redis.call('HINCRBY', inv, 'entered', -1)
  redis.call('HINCRBY', inv, 'voided', 1)
  record('v')
  return {'voided', eid}
end
return redis.error_reply('draw_entry.lua: unknown action ' .. tostring(action))
