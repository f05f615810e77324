"""Pacing of deliveries: the wait between tries (exponential backoff with jitter, or what the
receiver asked for with ``Retry-After``) and the per-receiver rate limit shared by every
replica (one Redis key per receiver, advanced atomically by a script on Redis' own clock)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from redis.asyncio import Redis

from services.notifier import redis_keys

# Reserve the next free slot: returns how many ms the caller waits before sending.
RESERVE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, free)
redis.call('SET', KEYS[1], at + interval, 'PX', at + interval - now + 60000)
return at - now
"""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.5
    max_wait_s: float = 30.0
    retry_after_max_s: float = 900.0
    throttled_max_s: float = 3600.0  # waiting on 429s, in all, before a message gives up
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def wait_s(self, failed_attempts: int, retry_after_s: float | None) -> float:
        """How long to wait after the ``failed_attempts``-th failure."""
        if retry_after_s is not None:
            return min(retry_after_s, self.retry_after_max_s)
        ceiling = min(self.max_wait_s, self.base_s * 2 ** (failed_attempts - 1))
        jittered: float = ceiling * self.rng.uniform(0.5, 1.0)
        return jittered


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._reserve = redis.register_script(RESERVE_SLOT)

    async def reserve(self, receiver: str, per_second: float) -> float:
        """Seconds to wait before this receiver's next message may go."""
        interval_ms = max(1, round(1000 / per_second))
        wait_ms = await self._reserve(keys=[redis_keys.rate(receiver)], args=[interval_ms])
        return float(wait_ms) / 1000.0
