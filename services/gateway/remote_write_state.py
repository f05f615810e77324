"""What remote write keeps between requests, in Redis so every gateway replica shares it.

- :class:`CounterMemory`: the last point of each counter series (one key per series, with a
  TTL, read with one MGET per slot bucket and written pipelined: one round trip each), from
  which the next rate is computed. It is written only after the rates are on the stream: a
  request that fails midway is retried by Prometheus and computes the same rates again (the
  detector skips repeats).
  Prometheus sends one series' samples in order from one queue shard, so two replicas do not
  race on a series unless a timed-out request is still running when its retry arrives.
- :class:`BacklogGuard`: how far the detector is behind on a metrics shard (``XINFO GROUPS``
  ``lag``, looked up at most once a second per shard); remote write answers 503 before the
  backlog reaches the stream's cap, where ``MAXLEN ~`` would trim unread samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.gateway.remote_write_mapping import CounterPoint
from shared.streams import GROUP_DETECTOR, PREFIX

COUNTER_KEY = f"{PREFIX}:remote_write:{{counters:%d}}:%s"
BUCKETS = 16  # keys spread over this many Redis Cluster slots, read with one MGET each


def counter_key(key: str) -> str:
    return COUNTER_KEY % (int(key[:4], 16) % BUCKETS, key)


class CounterMemory:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def load(self, keys: Iterable[str]) -> dict[str, CounterPoint]:
        buckets: dict[int, list[str]] = {}
        for key in keys:
            buckets.setdefault(int(key[:4], 16) % BUCKETS, []).append(key)
        if not buckets:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in buckets.values():
                pipe.mget([counter_key(key) for key in bucket])
            replies: list[list[bytes | None]] = await pipe.execute()
        found = {}
        for bucket, values in zip(buckets.values(), replies, strict=True):
            for key, reply in zip(bucket, values, strict=True):
                if reply:
                    at_ms, _, value = reply.partition(b" ")
                    found[key] = CounterPoint(int(at_ms), float(value))
        return found

    async def save(self, latest: Mapping[str, CounterPoint]) -> None:
        if not latest:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, point in latest.items():
                pipe.set(counter_key(key), f"{point.at_ms} {point.value!r}", ex=self.ttl_s)
            await pipe.execute()


class BacklogGuard:
    def __init__(self, redis: Redis, limit: int, every_s: float = 1.0) -> None:
        self.redis = redis
        self.limit = limit
        self.every_s = every_s
        self._seen: dict[str, tuple[float, int]] = {}  # stream -> (when looked, lag)

    async def over(self, streams: Iterable[str]) -> str | None:
        """The first of ``streams`` whose detector backlog is over the limit (None: none)."""
        for stream in streams:
            if await self._lag(stream) > self.limit:
                return stream
        return None

    async def _lag(self, stream: str) -> int:
        now = time.monotonic()
        seen = self._seen.get(stream)
        if seen is not None and now - seen[0] < self.every_s:
            return seen[1]
        lag = 0
        try:
            groups: list[dict[str, object]] = await self.redis.xinfo_groups(stream)
        except ResponseError as exc:
            if "no such key" not in str(exc):
                raise
            groups = []  # nothing written yet
        for group in groups:
            name = group.get("name")
            name = name.decode() if isinstance(name, bytes) else name
            value = group.get("lag")
            if name == GROUP_DETECTOR and isinstance(value, int):
                lag = value
        self._seen[stream] = (now, lag)
        return lag
