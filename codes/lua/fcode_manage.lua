--[[ fcode_manage.lua: the owner's and the operator's changes to a code.

KEYS[1] state   hash of the code

ARGV[1] "gift", "ungift" or "revoke"   ARGV[2] now (ms)
gift: ARGV[3] recipient's user id, ARGV[4] gift window end (ms)

gift:   an available, unexpired code with no purchase in flight is bound to one recipient.
ungift: the binding is removed, unless the code is already in an order or used.
revoke: the code can never be used again (a code in an unpaid order stays with that order).
Returns {"ok"}, {"missing"}, {"not_available", status} (gift, ungift) or {"redeemed"} (revoke).
]]
local state = KEYS[1]
local f = redis.call('HMGET', state, 'status', 'expires_ms', 'lease_until')
if not f[1] then return {'missing'} end
local status, now = f[1], tonumber(ARGV[2])
if ARGV[1] == 'gift' then
  if status ~= 'available' or now >= tonumber(f[2] or '0') or tonumber(f[3] or '0') > now then
    return {'not_available', status}
  end
  redis.call('HSET', state, 'gift_to', ARGV[3], 'gift_until', ARGV[4])
elseif ARGV[1] == 'ungift' then
  if status == 'reserved' or status == 'redeemed' then return {'not_available', status} end
  redis.call('HSET', state, 'gift_to', '', 'gift_until', 0)
else
  if status == 'redeemed' then return {'redeemed'} end
  if status == 'revoked' then return {'ok'} end
  redis.call('HSET', state, 'status', 'revoked', 'lease_token', '', 'lease_by', '', 'lease_until', 0)
end
redis.call('HINCRBY', state, 'ver', 1)
return {'ok'}
