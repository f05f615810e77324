"""Rules switched to shadow mode automatically: a rule whose actions did not improve their
metric ``after`` times within ``window`` (the rules file's ``policy.auto_shadow``) stops acting
and only records what it would do, until an admin resets it. Persisted in Redis, so every
worker and the API agree, and a reload of the rules file does not undo it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from services.remediator.stores import redis_keys

# KEYS: 1 the rule's not_improved zset, 2 auto-shadow hash
# ARGV: 1 rule, 2 run id, 3 threshold, 4 window ms
# Counts the run once (a retry counts nothing twice). Returns {switched, count}: switched is 1
# when this run switched the rule to shadow (again 1 when the same run is retried).
COUNT_NOT_IMPROVED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
local count = redis.call('ZCARD', KEYS[1])
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  if cjson.decode(current).run == ARGV[2] then return {1, count} end
  return {0, count}
end
if count >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[1],
             cjson.encode({since_ms = now, run = ARGV[2], count = count, window_ms = window}))
  return {1, count}
end
return {0, count}
"""


@dataclass(frozen=True)
class Demotion:
    rule: str
    since: datetime
    not_improved: int
    window_s: float
    run_id: str

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "since": self.since.isoformat(),
            "not_improved": self.not_improved,
            "window_s": self.window_s,
            "last_run_id": self.run_id,
        }


class AutoShadow:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._count = client.register_script(COUNT_NOT_IMPROVED)

    def count_not_improved(
        self, rule: str, run_id: str, *, after: int, window_s: float
    ) -> Demotion | None:
        """Counts one action of ``rule`` that did not improve anything; the demotion when this
        one switched the rule to shadow mode."""
        switched, _count = self._count(
            keys=[redis_keys.not_improved(rule), redis_keys.AUTO_SHADOW],
            args=[rule, run_id, after, int(window_s * 1000)],
        )
        return self.get(rule) if int(switched) else None

    def names(self) -> frozenset[str]:
        return names_from(self.redis.hkeys(redis_keys.AUTO_SHADOW))

    def queue_names(self, pipe: redis.client.Pipeline) -> None:
        """Queues the read of :meth:`names` on ``pipe``; :func:`names_from` reads its reply."""
        pipe.hkeys(redis_keys.AUTO_SHADOW)

    def get(self, rule: str) -> Demotion | None:
        raw = self.redis.hget(redis_keys.AUTO_SHADOW, rule)
        return _demotion(rule, raw) if raw is not None else None

    def all(self) -> list[Demotion]:
        raw = self.redis.hgetall(redis_keys.AUTO_SHADOW)
        return sorted((_demotion(k.decode(), v) for k, v in raw.items()), key=lambda d: d.rule)

    def reset(self, rule: str) -> bool:
        """Back to the mode the rules file says; its count starts again. True: it was shadowed."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(redis_keys.AUTO_SHADOW, rule)
            pipe.delete(redis_keys.not_improved(rule))
            removed, _ = pipe.execute()
        return bool(removed)


def _demotion(rule: str, raw: bytes) -> Demotion:
    data = json.loads(raw)
    return Demotion(
        rule=rule,
        since=datetime.fromtimestamp(int(data["since_ms"]) / 1000, UTC),
        not_improved=int(data["count"]),
        window_s=int(data["window_ms"]) / 1000,
        run_id=str(data["run"]),
    )


def names_from(reply: list[bytes]) -> frozenset[str]:
    return frozenset(name.decode() for name in reply)
