"""Per-key request limits: a fixed one-minute window counted in Redis (shared by replicas)."""

from __future__ import annotations

import time

from fastapi import HTTPException
from redis.asyncio import Redis

from shared.streams import PREFIX


class RateLimiter:
    def __init__(self, redis: Redis, scope: str, per_minute: int) -> None:
        self.redis = redis
        self.scope = scope
        self.per_minute = per_minute

    async def hit(self, subject: str) -> int | None:
        """Count one request; None if allowed, else the seconds until the window reopens."""
        now = time.time()
        window = int(now // 60)
        key = f"{PREFIX}:{{gateway}}:rate:{self.scope}:{subject}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if int(count) <= self.per_minute:
            return None
        return max(1, int((window + 1) * 60 - now) + 1)

    async def enforce(self, subject: str) -> None:
        """Count one request; past the limit, a 429 problem with ``Retry-After``."""
        wait = await self.hit(subject)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit of {self.per_minute} requests a minute reached for this key",
                headers={"Retry-After": str(wait)},
            )
