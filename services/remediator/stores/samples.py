"""The latest samples of one series, read back from the metrics stream the gateway writes
(``scops:{metrics:N}``, the resource's shard), newest entries first.

Only entries added after the action started are read (stream ids are the Redis server's
clock), and at most ``scan_max`` of them: a check costs a bounded number of reads however busy
the stream is. Batches that do not mention the resource are skipped without being parsed.
"""

from __future__ import annotations

import json

import redis

from shared.events import EventDecodeError, MetricBatch, decode_event
from shared.streams import metrics_stream, shard_of

CHUNK = 200


class SeriesReader:
    def __init__(self, client: redis.Redis, *, shards: int, scan_max: int = 5000) -> None:
        self.redis = client
        self.shards = shards
        self.scan_max = scan_max

    def latest(self, resource_id: str, metric: str, since_ms: int, count: int) -> list[float]:
        """Up to ``count`` latest values of the series added since ``since_ms``, oldest first."""
        stream = metrics_stream(shard_of(resource_id, self.shards))
        needle = json.dumps(resource_id, ensure_ascii=False).encode()
        found: list[tuple[float, int, float]] = []
        high: str = "+"
        scanned = 0
        while scanned < self.scan_max and len(found) < count:
            entries = self.redis.xrevrange(stream, max=high, min=since_ms, count=CHUNK)
            if not entries:
                break
            for _entry_id, fields in entries:
                scanned += 1
                data = fields.get(b"data", b"")
                if needle in data:
                    found += _matching(fields, resource_id, metric, len(found))
            high = f"({entries[-1][0].decode()}"
        found.sort()
        return [value for _, _, value in found[-count:]]


def _matching(
    fields: dict[bytes, bytes], resource_id: str, metric: str, seq: int
) -> list[tuple[float, int, float]]:
    try:
        batch = decode_event(fields.get(b"type", b"").decode(), fields[b"data"])
    except (EventDecodeError, KeyError):
        return []
    if not isinstance(batch, MetricBatch):
        return []
    return [
        (s.timestamp.timestamp(), seq + n, s.value)
        for n, s in enumerate(batch.samples)
        if s.resource_id == resource_id and s.metric == metric
    ]
