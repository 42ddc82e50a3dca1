--[[ fcode_load.lua: put an F-code's live state into Redis (when minted, or rebuilt from SQL).

KEYS[1] state   hash of the code: status (available, reserved, redeemed, revoked), expires_ms,
                sku ("" any), owner, gift_to ("" none), gift_until (ms), order_id, buyer,
                lease_token, lease_by, lease_until (ms), ver (bumped by every change SQL follows)

ARGV[1] when the key may go (unix ms: well after the code's expiry and any order it is in)
ARGV[2..] field, value pairs

Only writes a code Redis does not have: live state always wins over the record.
Returns 1 when written, 0 when the code was there already.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local pairs_ = {}
for i = 2, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(pairs_))
redis.call('HSET', KEYS[1], 'lease_token', '', 'lease_by', '', 'lease_until', 0)
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
