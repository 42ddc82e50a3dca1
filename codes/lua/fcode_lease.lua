--[[ fcode_lease.lua: take an F-code for one purchase with a short lease (before the unit).

KEYS[1] state   hash of the code (see fcode_load.lua)

ARGV[1] buyer's user id   ARGV[2] the drop's SKU   ARGV[3] now (ms)   ARGV[4] lease (ms)
ARGV[5] lease token (random, per purchase)

The lease only keeps other buyers off while this purchase takes its unit; if the caller dies it
runs out and the code is available again. A gift binds the code to its recipient until
gift_until; after that anyone holding the code may use it again.
Returns {"ok"} leased, {"missing"} (not in Redis: rebuild from SQL, then retry),
{"used", status, order id, buyer} (reserved or redeemed by that order of that buyer),
{"busy", buyer holding the lease}, or {reason}: revoked, expired, wrong_sku, not_recipient.
]]
local state = KEYS[1]
local f = redis.call('HMGET', state, 'status', 'expires_ms', 'sku', 'gift_to', 'gift_until',
  'lease_until', 'order_id', 'buyer')
if not f[1] then return {'missing'} end
local now = tonumber(ARGV[3])
if f[1] == 'reserved' or f[1] == 'redeemed' then return {'used', f[1], f[7] or '', f[8] or ''} end
if f[1] ~= 'available' then return {f[1]} end
if now >= tonumber(f[2] or '0') then return {'expired'} end
local sku = f[3] or ''
if sku ~= '' and sku ~= ARGV[2] then return {'wrong_sku'} end
local gift_to = f[4] or ''
if gift_to ~= '' and now < tonumber(f[5] or '0') and gift_to ~= ARGV[1] then return {'not_recipient'} end
if tonumber(f[6] or '0') > now then return {'busy', redis.call('HGET', state, 'lease_by') or ''} end
redis.call('HSET', state, 'lease_token', ARGV[5], 'lease_by', ARGV[1], 'lease_until', now + tonumber(ARGV[4]))
return {'ok'}
