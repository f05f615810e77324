"""A series' recent values and anomalies, from what the gateway itself keeps.

Values: the newest entries of the metrics stream shard the series' resource goes to (what the
gateway wrote there on ingest, either schema of ``metrics.batch.v1``), read back newest first
and bounded (an entry that does not mention the resource is skipped without being decoded).
Anomalies: the gateway's anomaly index, as ``GET /anomalies`` answers.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from services.gateway.anomaly_index import AnomalyIndex, Query
from services.gateway.console.charts import Marked, Sample
from services.gateway.console.rendering import parse_time
from shared.events import EventDecodeError
from shared.metric_batches import decode_columns
from shared.streams import metrics_stream, shard_of

ENTRIES_READ = 300
MOST_SAMPLES = 500
MOST_ANOMALIES = 200


async def recent_samples(redis: Redis, shards: int, resource_id: str, metric: str) -> list[Sample]:
    stream = metrics_stream(shard_of(resource_id, shards))
    entries = await redis.xrevrange(stream, count=ENTRIES_READ)
    # How the entry spells the id (both schemas write UTF-8 JSON strings).
    needle = json.dumps(resource_id, ensure_ascii=False).encode()
    found: list[Sample] = []
    for _, fields in entries:
        data = fields.get(b"data")
        if not isinstance(data, bytes) or needle not in data:
            continue
        try:
            batch = decode_columns(data)
        except EventDecodeError:
            continue
        for i, (resource, name) in enumerate(zip(batch.resource_id, batch.metric, strict=True)):
            if resource == resource_id and name == metric:
                found.append(Sample(batch.timestamp_us[i] / 1e6, batch.value[i]))
        if len(found) >= MOST_SAMPLES:
            break
    return found


async def series_anomalies(
    index: AnomalyIndex, resource_id: str, metric: str
) -> list[dict[str, Any]]:
    items, _ = await index.query(Query(resource_id=resource_id, limit=MOST_ANOMALIES))
    return [item for item in items if item.get("metric") == metric]


def marked(items: list[dict[str, Any]]) -> list[Marked]:
    points = []
    for item in items:
        at = parse_time(item.get("observed_at"))
        try:
            value, low, high = (
                float(item["value"]),
                float(item["expected_low"]),
                float(item["expected_high"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        if at is not None:
            points.append(
                Marked(
                    at.timestamp(),
                    value,
                    low,
                    high,
                    str(item.get("severity", "")),
                    str(item.get("event_id", "")),
                )
            )
    return points
