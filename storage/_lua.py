"""Lua scripts of the events primitive. Offsets are stream ids `<ms>-<seq>` whose `seq` part is a
gapless per-channel counter, so a reader can tell from ids alone whether history is contiguous."""

# Shared prologue: the channel's epoch and top id, rotating the epoch when the stream vanished
# after it had entries (deleted, expired, or lost in a Redis restart).
_CURRENT = """
local function current(stream, meta, candidate)
  local epoch = redis.call('HGET', meta, 'e')
  local top = redis.call('HGET', meta, 't')
  if (not epoch) or (top and top ~= '0-0' and redis.call('EXISTS', stream) == 0) then
    epoch = candidate
    top = '0-0'
    redis.call('HSET', meta, 'e', epoch, 't', top)
  end
  return epoch, top or '0-0'
end
local function seq(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, dash + 1))
end
local function ms(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1))
end
"""

# KEYS: stream, meta. ARGV: topic, channel (JSON string), event body fragment, maxlen,
# retention ms, epoch candidate, key ttl ms. Returns {id, epoch}.
PUBLISH = (
    _CURRENT
    + """
local epoch, top = current(KEYS[1], KEYS[2], ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = ms(top)
if now < last then now = last end
local id = string.format('%.0f', now) .. '-' .. string.format('%.0f', seq(top) + 1)
local frame = '{"op":"event","channel":' .. ARGV[2] .. ',"offset":"' .. id .. '","epoch":"'
  .. epoch .. '",' .. ARGV[3] .. '}'
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], id, 'f', frame)
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', now - tonumber(ARGV[5])))
redis.call('HSET', KEYS[2], 't', id)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]) * 50)
redis.call('PUBLISH', ARGV[1], id .. ' ' .. frame)
return {id, epoch}
"""
)

# KEYS: stream, meta. ARGV: epoch candidate. Returns {top id, epoch}.
POSITION = (
    _CURRENT
    + """
local epoch, top = current(KEYS[1], KEYS[2], ARGV[1])
return {top, epoch}
"""
)

# KEYS: stream, meta. ARGV: since id, since epoch, limit, epoch candidate.
# Returns {top, epoch, recovered (0/1), flat list of id, frame, id, frame, ...}.
REPLAY = (
    _CURRENT
    + """
local epoch, top = current(KEYS[1], KEYS[2], ARGV[4])
if ARGV[2] ~= epoch then return {top, epoch, 0, {}} end
if ARGV[1] == top then return {top, epoch, 1, {}} end
local want = seq(ARGV[1]) + 1
if want > seq(top) then return {top, epoch, 0, {}} end
local limit = tonumber(ARGV[3])
local rows = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', limit + 1)
if #rows == 0 or #rows > limit or seq(rows[1][1]) ~= want then return {top, epoch, 0, {}} end
local flat = {}
for i = 1, #rows do
  flat[#flat + 1] = rows[i][1]
  flat[#flat + 1] = rows[i][2][2]
end
return {top, epoch, 1, flat}
"""
)

# KEYS: stream, meta. ARGV: epoch candidate, then the ids to delete. Deletes those entries and,
# when any existed, starts a new epoch: positions from before can no longer be "recovered"
# across the hole (the gapless `seq` check alone would miss a hole in the middle).
# Returns the number deleted.
FORGET = """
local n = 0
if #ARGV > 1 then
  n = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
end
if n > 0 then
  redis.call('HSET', KEYS[2], 'e', ARGV[1])
end
return n
"""
