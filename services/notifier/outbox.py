"""Where messages go when no webhook is configured: a capped list in Redis, newest first."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from shared.streams import PREFIX

OUTBOX_KEY = f"{PREFIX}:{{notifier}}:outbox"


class Outbox:
    def __init__(self, redis: Redis, size: int) -> None:
        self.redis = redis
        self.size = size

    async def put(self, item: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(OUTBOX_KEY, json.dumps(item))
            pipe.ltrim(OUTBOX_KEY, 0, self.size - 1)
            await pipe.execute()

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(OUTBOX_KEY, 0, limit - 1)
        return [json.loads(r) for r in rows]
