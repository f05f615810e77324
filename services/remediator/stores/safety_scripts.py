"""The safety checks as Lua scripts: each runs in one atomic step in Redis, so no two workers can
both pass a check that only one of them may pass.

Times are the Redis server's clock (``TIME``) unless a test passes ``now_ms``, so workers with
skewed clocks still agree.
"""

from __future__ import annotations

# KEYS: 1 executed zset, 2 breaker, 3 maintenance, 4 dry-run switch, 5 blast zset, 6 run hash,
#       7 the Auto Scaling group's blast zset, then per member: its cooldown key, its lock key
#       (8, 9 for the first member, 10, 11 for the second, ...), then the locks of what the
#       action also acts on without being its target (the rest: a group's instances)
# ARGV: 1 mode (reserve|peek), 2 now_ms or "", 3 reservation id, 4 target key,
#       5 rate limit, 6 window ms, 7 cooldown ms, 8 cooling ms (the longer of the request's
#       and the default cooldown: how long status lists the member), 9 lock ttl ms,
#       10 blast max (0: none), 11 blast window ms, 12 default dry-run ("1"/"0"),
#       13 check breaker ("1"/"0"), 14 run hash ttl ms, 15 action,
#       16 most instances of the group (0: no group share), 17 member count m,
#       18 group member count g, 19 memory ms, 20 counted count c, then the m members, the g
#       group members, the c names the blast radius counts the members by (each where it is:
#       a group of another AWS account or region is another target than one of the same name
#       here), and the names that maintenance windows match (the rest)
# A cooldown key holds "last:until": when the member was last acted on, and until when it
# counts as cooling down (for status; a request's check reads "last" with its own cooldown).
# Cooldown keys and blast radius entries are remembered for at least the memory (and never
# for less than they already were): a rule with a long cooldown or window must still see an
# action that one with a shorter one recorded. Keys written before held "last" alone.
# Members are what the action acts on, resolved (sorted instance ids, asg:NAME): every lock,
# cooldown and blast radius count is kept per member, so the same instance named two ways, or
# inside a larger set, meets the same lock.
# Returns {verdict, detail, number}: verdict is ok, dry_run or the check that refused (for the
# group share: {'blast_radius', 'group', instances already acted on}).
CHECK_AND_RESERVE = """
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local m, g, c = tonumber(ARGV[17]), tonumber(ARGV[18]), tonumber(ARGV[20])
local memory = tonumber(ARGV[19])
local first_member, first_group = 21, 21 + m
local first_counted, first_name = 21 + m + g, 21 + m + g + c

if ARGV[13] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {'circuit_breaker', redis.call('HGET', KEYS[2], 'reason') or '',
          tonumber(redis.call('HGET', KEYS[2], 'opened_at_ms') or '0')}
end

-- A window's glob as an anchored Lua pattern: * any text, ? one character (a UTF-8 lead byte
-- and its continuation bytes, not one byte), everything else literal; as deny lists match.
local function window_pattern(glob)
  local escaped = string.gsub(glob, '[%^%$%(%)%%%.%[%]%+%-%*%?]', function(c)
    if c == '*' then return '.*' end
    if c == '?' then return '[^\\128-\\191][\\128-\\191]*' end
    return '%' .. c
  end)
  return '^' .. escaped .. '$'
end

local windows = redis.call('HGETALL', KEYS[3])
for i = 1, #windows, 2 do
  local w = cjson.decode(windows[i + 1])
  if now >= w.start_ms and now < w.end_ms then
    local pattern = w.target_pattern and window_pattern(w.target_pattern) or w.lua
    for n = first_name, #ARGV do
      if string.find(ARGV[n], pattern) then
        return {'maintenance', windows[i], w.end_ms}
      end
    end
  end
end

for i = 1, m do
  local lock = KEYS[7 + 2 * i]
  local holder = redis.call('GET', lock)
  if holder then
    return {'lock', ARGV[first_member + i - 1], redis.call('PTTL', lock)}
  end
end
for k = 8 + 2 * m, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    return {'lock', KEYS[k], redis.call('PTTL', KEYS[k])}
  end
end

local cooldown = tonumber(ARGV[7])
for i = 1, m do
  local held = redis.call('GET', KEYS[6 + 2 * i])
  local last = held and tonumber(string.match(held, '^[^:]+'))
  if last and now - last < cooldown then
    return {'cooldown', ARGV[first_member + i - 1], cooldown - (now - last)}
  end
end

local blast_max = tonumber(ARGV[10])
local blast_window = tonumber(ARGV[11])
local cutoff = now - blast_window
if blast_max > 0 then
  local new = 0
  for i = first_counted, first_name - 1 do
    local seen = redis.call('ZSCORE', KEYS[5], ARGV[i])
    if not (seen and tonumber(seen) > cutoff) then new = new + 1 end
  end
  local count = redis.call('ZCOUNT', KEYS[5], '(' .. cutoff, '+inf')
  if new > 0 and count + new > blast_max then
    return {'blast_radius', ARGV[15], count}
  end
end

local group_max = tonumber(ARGV[16])
if group_max > 0 then
  local new = 0
  for i = first_group, first_counted - 1 do
    local seen = redis.call('ZSCORE', KEYS[7], ARGV[i])
    if not (seen and tonumber(seen) > cutoff) then new = new + 1 end
  end
  local count = redis.call('ZCOUNT', KEYS[7], '(' .. cutoff, '+inf')
  if new > 0 and count + new > group_max then
    return {'blast_radius', 'group', count}
  end
end

local window = tonumber(ARGV[6])
local used = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
if used >= tonumber(ARGV[5]) then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - window), '+inf',
                            'WITHSCORES', 'LIMIT', 0, 1)
  local frees = 0
  if oldest[2] then frees = tonumber(oldest[2]) + window - now end
  return {'rate_limit', tostring(used), frees}
end

local dry = redis.call('GET', KEYS[4]) or ARGV[12]
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
local function keep_for(key, at_least)
  local left = redis.call('PTTL', key)
  if left > at_least then return left end
  return at_least
end
local cooling = tonumber(ARGV[8])
for i = 1, m do
  local key = KEYS[6 + 2 * i]
  local until_ms = now + cooling
  local held = redis.call('GET', key)
  local held_until = held and tonumber(string.match(held, ':(%d+)$'))
  if held_until and held_until > until_ms then until_ms = held_until end
  redis.call('SET', key, string.format('%.0f:%.0f', now, until_ms), 'PX',
             keep_for(key, math.max(memory, cooling)))
  redis.call('SET', KEYS[7 + 2 * i], id, 'PX', ARGV[9])
end
for k = 8 + 2 * m, #KEYS do redis.call('SET', KEYS[k], id, 'PX', ARGV[9]) end
local remembered = math.max(memory, blast_window)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - remembered)
for i = first_counted, first_name - 1 do redis.call('ZADD', KEYS[5], now, ARGV[i]) end
redis.call('PEXPIRE', KEYS[5], keep_for(KEYS[5], remembered))
if group_max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - remembered)
  for i = first_group, first_counted - 1 do redis.call('ZADD', KEYS[7], now, ARGV[i]) end
  redis.call('PEXPIRE', KEYS[7], keep_for(KEYS[7], remembered))
end
redis.call('HSET', KEYS[6], 'state', 'reserved', 'reservation', id, 'target', ARGV[4],
           'reserved_at_ms', now)
redis.call('PEXPIRE', KEYS[6], ARGV[14])
return {'ok', id, used + 1}
"""

# KEYS: 1 failures zset, 2 breaker, then the lock of every member
# ARGV: 1 reservation id, 2 outcome (succeeded|failed|other), 3 now_ms or "",
#       4 breaker threshold, 5 breaker window ms, 6 failure description
# Returns 1 when this failure opened the breaker, else 0.
RELEASE = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
if ARGV[2] ~= 'failed' then
  return 0
end
local window = tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
local failures = redis.call('ZCARD', KEYS[1])
if failures >= tonumber(ARGV[4]) and redis.call('EXISTS', KEYS[2]) == 0 then
  local reason = failures .. ' actions failed within ' .. math.floor(window / 1000) ..
                 's; last: ' .. ARGV[6]
  redis.call('HSET', KEYS[2], 'opened_at_ms', now, 'reason', reason, 'failures', failures)
  return 1
end
return 0
"""
