"""The safety checks as Lua scripts: each runs in one atomic step in Redis, so no two workers can
both pass a check that only one of them may pass.

Times are the Redis server's clock (``TIME``) unless a test passes ``now_ms``, so workers with
skewed clocks still agree.
"""

from __future__ import annotations

# KEYS: 1 executed zset, 2 cooldown, 3 lock, 4 breaker, 5 maintenance, 6 dry-run switch,
#       7 blast zset, 8 run hash, 9 the Auto Scaling group's blast zset
# ARGV: 1 mode (reserve|peek), 2 now_ms or "", 3 reservation id, 4 target key, 5 resource id,
#       6 rate limit, 7 window ms, 8 cooldown ms, 9 cooldown key ttl ms, 10 lock ttl ms,
#       11 blast max (0: none), 12 blast window ms, 13 default dry-run ("1"/"0"),
#       14 check breaker ("1"/"0"), 15 run hash ttl ms, 16 action,
#       17 most instances of the group (0: no group share), 18... the instances acted on
# Returns {verdict, detail, number}: verdict is ok, dry_run or the check that refused (for the
# group share: {'blast_radius', 'group', instances already acted on}).
CHECK_AND_RESERVE = """
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local target, resource = ARGV[4], ARGV[5]

if ARGV[14] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {'circuit_breaker', redis.call('HGET', KEYS[4], 'reason') or '',
          tonumber(redis.call('HGET', KEYS[4], 'opened_at_ms') or '0')}
end

local windows = redis.call('HGETALL', KEYS[5])
for i = 1, #windows, 2 do
  local w = cjson.decode(windows[i + 1])
  if now >= w.start_ms and now < w.end_ms and
     (string.find(target, w.lua) or string.find(resource, w.lua)) then
    return {'maintenance', windows[i], w.end_ms}
  end
end

local holder = redis.call('GET', KEYS[3])
if holder then
  return {'lock', holder, redis.call('PTTL', KEYS[3])}
end

local last = redis.call('GET', KEYS[2])
local cooldown = tonumber(ARGV[8])
if last and now - tonumber(last) < cooldown then
  return {'cooldown', last, cooldown - (now - tonumber(last))}
end

local blast_max = tonumber(ARGV[11])
local blast_window = tonumber(ARGV[12])
if blast_max > 0 then
  local seen = redis.call('ZSCORE', KEYS[7], target)
  local fresh = seen and tonumber(seen) > now - blast_window
  local count = redis.call('ZCOUNT', KEYS[7], '(' .. (now - blast_window), '+inf')
  if not fresh and count >= blast_max then
    return {'blast_radius', ARGV[16], count}
  end
end

local group_max = tonumber(ARGV[17])
if group_max > 0 then
  local cutoff = now - blast_window
  local new = 0
  for i = 18, #ARGV do
    local seen = redis.call('ZSCORE', KEYS[9], ARGV[i])
    if not (seen and tonumber(seen) > cutoff) then new = new + 1 end
  end
  local count = redis.call('ZCOUNT', KEYS[9], '(' .. cutoff, '+inf')
  if new > 0 and count + new > group_max then
    return {'blast_radius', 'group', count}
  end
end

local window = tonumber(ARGV[7])
local used = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
if used >= tonumber(ARGV[6]) then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf',
                            'WITHSCORES', 'LIMIT', 0, 1)
  local frees = 0
  if oldest[2] then frees = tonumber(oldest[2]) + window - now end
  return {'rate_limit', tostring(used), frees}
end

local dry = redis.call('GET', KEYS[6]) or ARGV[13]
if dry == '1' then
  return {'dry_run', '', used}
end
if ARGV[1] ~= 'reserve' then
  return {'ok', '', used}
end

local id = ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, id)
redis.call('PEXPIRE', KEYS[1], window)
if tonumber(ARGV[9]) > 0 then
  redis.call('SET', KEYS[2], now, 'PX', ARGV[9])
end
redis.call('SET', KEYS[3], id, 'PX', ARGV[10])
if blast_max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - blast_window)
  redis.call('ZADD', KEYS[7], now, target)
  redis.call('PEXPIRE', KEYS[7], blast_window)
end
if group_max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now - blast_window)
  for i = 18, #ARGV do redis.call('ZADD', KEYS[9], now, ARGV[i]) end
  redis.call('PEXPIRE', KEYS[9], blast_window)
end
redis.call('HSET', KEYS[8], 'state', 'reserved', 'reservation', id, 'target', target,
           'reserved_at_ms', now)
redis.call('PEXPIRE', KEYS[8], ARGV[15])
return {'ok', id, used + 1}
"""

# KEYS: 1 lock, 2 failures zset, 3 breaker
# ARGV: 1 reservation id, 2 outcome (succeeded|failed|other), 3 now_ms or "",
#       4 breaker threshold, 5 breaker window ms, 6 failure description
# Returns 1 when this failure opened the breaker, else 0.
RELEASE = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
if ARGV[2] ~= 'failed' then
  return 0
end
local window = tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], window)
local failures = redis.call('ZCARD', KEYS[2])
if failures >= tonumber(ARGV[4]) and redis.call('EXISTS', KEYS[3]) == 0 then
  local reason = failures .. ' actions failed within ' .. math.floor(window / 1000) ..
                 's; last: ' .. ARGV[6]
  redis.call('HSET', KEYS[3], 'opened_at_ms', now, 'reason', reason, 'failures', failures)
  return 1
end
return 0
"""
