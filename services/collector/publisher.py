"""Publishing collected datapoints exactly once, across restarts and replicas.

Each series has a watermark (the time of its newest datapoint published) in a hash beside its
metrics shard, under the shard's hash tag so both live in one Redis Cluster slot. For each
shard the watermarks are read under WATCH, the datapoints past them are appended to the
shard's stream and the watermarks raised in one MULTI/EXEC: either both happen or neither.
A poll that fails midway, or a collector killed between polls, publishes the same datapoints
next time, once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import WatchError

from services.collector.core.series import Series
from shared.bus import encode_event
from shared.cloudwatch.queries import after_watermark
from shared.events import MetricBatch, MetricSample
from shared.streams import metrics_stream, shard_of

MAX_SAMPLES_PER_ENTRY = 1000
WATCH_RETRIES = 5

Points = list[tuple[datetime, float]]


def watermarks_key(shard: int) -> str:
    return f"{metrics_stream(shard)}:cloudwatch:watermarks"


@dataclass
class Published:
    samples: int = 0
    entries: int = 0


class Publisher:
    def __init__(self, redis: Redis, shards: int, maxlen: int) -> None:
        self.redis = redis
        self.shards = shards
        self.maxlen = maxlen

    async def publish(
        self, fetched: Sequence[tuple[Series, Points]], correlation_id: str
    ) -> Published:
        by_shard: defaultdict[int, list[tuple[Series, Points]]] = defaultdict(list)
        for series, points in fetched:
            if points:
                by_shard[shard_of(series.resource_id, self.shards)].append((series, points))
        total = Published()
        for shard, group in sorted(by_shard.items()):
            done = await self._publish_shard(shard, group, correlation_id)
            total.samples += done.samples
            total.entries += done.entries
        return total

    async def _publish_shard(
        self, shard: int, group: list[tuple[Series, Points]], correlation_id: str
    ) -> Published:
        key = watermarks_key(shard)
        fields = [series.watermark_field for series, _ in group]
        for _ in range(WATCH_RETRIES):
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    marks = await pipe.hmget(key, fields)
                    samples: list[MetricSample] = []
                    raised: dict[str, float] = {}
                    for (series, points), mark in zip(group, marks, strict=True):
                        fresh = after_watermark(points, float(mark) if mark else None)
                        if fresh:
                            samples += series.samples(fresh)
                            raised[series.watermark_field] = fresh[-1][0].timestamp()
                    if not samples:
                        await pipe.unwatch()
                        return Published()
                    pipe.multi()
                    entries = 0
                    for start in range(0, len(samples), MAX_SAMPLES_PER_ENTRY):
                        batch = MetricBatch(
                            samples=samples[start : start + MAX_SAMPLES_PER_ENTRY],
                            correlation_id=correlation_id,
                        )
                        pipe.xadd(
                            metrics_stream(shard),
                            encode_event(batch),
                            maxlen=self.maxlen,
                            approximate=True,
                        )
                        entries += 1
                    pipe.hset(key, mapping=raised)
                    await pipe.execute()
                    return Published(len(samples), entries)
            except WatchError:
                continue  # another collector published to this shard meanwhile: read again
        raise RuntimeError(f"watermarks of shard {shard} kept changing; retried next poll")
