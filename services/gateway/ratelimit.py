"""Per-key request limits: a fixed one-minute window counted in Redis (shared by replicas)."""

from __future__ import annotations

import time

from fastapi import HTTPException
from redis.asyncio import Redis

from shared.streams import PREFIX

WINDOW_TTL_S = 120  # a window's counter outlives its minute, whatever the clocks' skew


class RateLimiter:
    def __init__(self, redis: Redis, scope: str, per_minute: int) -> None:
        self.redis = redis
        self.scope = scope
        self.per_minute = per_minute

    def window_key(self, subject: str, now: float) -> str:
        """The counter of ``subject``'s requests in the minute holding ``now`` (it lives two
        minutes: ``WINDOW_TTL_S``). Every counter shares the ``{gateway}`` hash slot, as the
        API keys do, so one script may read a key and count its request."""
        return f"{PREFIX}:{{gateway}}:rate:{self.scope}:{subject}:{int(now // 60)}"

    def wait_after(self, count: int, now: float) -> int | None:
        """None if the ``count``-th request of the window holding ``now`` is allowed, else the
        seconds until the next window opens (for ``Retry-After``)."""
        if count <= self.per_minute:
            return None
        return max(1, int((int(now // 60) + 1) * 60 - now) + 1)

    async def hit(self, subject: str) -> int | None:
        """Count one request; None if allowed, else the seconds until the window reopens."""
        now = time.time()
        key = self.window_key(subject, now)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_TTL_S)
            count, _ = await pipe.execute()
        return self.wait_after(int(count), now)

    async def enforce(self, subject: str) -> None:
        """Count one request; past the limit, a 429 problem with ``Retry-After``."""
        wait = await self.hit(subject)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit of {self.per_minute} requests a minute reached for this key",
                headers={"Retry-After": str(wait)},
            )
