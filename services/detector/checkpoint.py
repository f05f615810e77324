"""Per-series state saved to Redis, so a restarted detector resumes where it stopped.

One hash per metric shard (``scops:{detector-state:N}``), one field per series. Changed series
are saved every ``checkpoint_interval_s`` and at shutdown; on start a replica loads the hashes of
the shards it owns. A crash loses at most one interval of learning, never an event: entries not
acknowledged are redelivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from redis.asyncio import Redis

from services.detector.engine import DetectionEngine, SeriesKey
from shared.streams import PREFIX, shard_of

SEP = "\x1f"


def state_key(shard: int) -> str:
    return f"{PREFIX}:{{detector-state:{shard}}}"


class Checkpointer:
    def __init__(self, redis: Redis, engine: DetectionEngine, shards: int) -> None:
        self.redis = redis
        self.engine = engine
        self.shards = shards
        self.saved_series = 0

    async def save(self) -> int:
        dirty = self.engine.take_dirty()
        if not dirty:
            return 0
        by_shard: dict[int, dict[str, str]] = {}
        for (resource, metric), state in dirty.items():
            shard = shard_of(resource, self.shards)
            by_shard.setdefault(shard, {})[f"{resource}{SEP}{metric}"] = json.dumps(
                state, separators=(",", ":")
            )
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, mapping in by_shard.items():
                pipe.hset(state_key(shard), mapping=mapping)
            await pipe.execute()
        self.saved_series += len(dirty)
        return len(dirty)

    async def load(self, shards: list[int]) -> int:
        loaded = 0
        for shard in shards:
            rows: dict[bytes, bytes] = await self.redis.hgetall(state_key(shard))
            loaded += self.engine.restore(_decode(rows))
        return loaded


def _decode(rows: dict[bytes, bytes]) -> Iterator[tuple[SeriesKey, dict[str, Any]]]:
    for field, value in rows.items():
        resource, _, metric = field.decode().partition(SEP)
        yield (resource, metric), json.loads(value)
