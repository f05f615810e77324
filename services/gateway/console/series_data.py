"""A series' recent values and anomalies, from what the gateway itself keeps.

Values: the entries the gateway wrote in the last hour (``WINDOW_S``) to the metrics stream
shard the series' resource goes to (either schema of ``metrics.batch.v1``), read back newest
first by time range, a chunk at a time (an entry that does not mention the resource is skipped
without being decoded). Reading is bounded: at most ``MOST_ENTRIES`` entries and
``MOST_SAMPLES`` values. When a bound stops it before the hour's start, the values cover only
the span since the last entry read, and the page says so.
Anomalies: the gateway's anomaly index, as ``GET /anomalies`` answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from services.gateway.anomaly_index import AnomalyIndex, Query
from services.gateway.console.charts import Marked, Sample
from services.gateway.console.rendering import parse_time
from shared.events import EventDecodeError
from shared.metric_batches import decode_columns
from shared.streams import metrics_stream, shard_of

WINDOW_S = 3600  # the span the chart covers
CHUNK = 1_000  # entries read at a time
MOST_ENTRIES = 50_000  # entries read for one chart, at most
MOST_SAMPLES = 2_000  # values drawn, at most (a value every 2 s for the hour)
MOST_ANOMALIES = 200


@dataclass
class RecentSamples:
    """The values found, and the span they cover: from ``since`` (the hour's start, or the
    time of the last entry read when a bound stopped the reading: ``cut``) to now."""

    since: float
    until: float
    samples: list[Sample] = field(default_factory=list)
    cut: bool = False


def _entry_time(entry_id: bytes) -> float:
    return int(entry_id.split(b"-")[0]) / 1000


def _before(entry_id: bytes) -> str:
    """The greatest stream id below ``entry_id`` (an inclusive bound for the next chunk)."""
    ms, seq = (int(part) for part in entry_id.split(b"-"))
    return f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{2**64 - 1}"


async def recent_samples(
    redis: Redis, shards: int, resource_id: str, metric: str, now: float | None = None
) -> RecentSamples:
    until = time.time() if now is None else now
    found = RecentSamples(since=until - WINDOW_S, until=until)
    stream = metrics_stream(shard_of(resource_id, shards))
    # How the entry spells the id (both schemas write UTF-8 JSON strings).
    needle = json.dumps(resource_id, ensure_ascii=False).encode()
    top, bottom, read = "+", f"{max(0, int(found.since * 1000))}-0", 0
    while read < MOST_ENTRIES:
        count = min(CHUNK, MOST_ENTRIES - read)
        entries = await redis.xrevrange(stream, max=top, min=bottom, count=count)
        read += len(entries)
        for entry_id, fields in entries:
            data = fields.get(b"data")
            if not isinstance(data, bytes) or needle not in data:
                continue
            try:
                batch = decode_columns(data)
            except EventDecodeError:
                continue
            pairs = zip(batch.resource_id, batch.metric, strict=True)
            for i, (resource, name) in enumerate(pairs):
                at = batch.timestamp_us[i] / 1e6
                if resource == resource_id and name == metric and at >= found.since:
                    found.samples.append(Sample(at, batch.value[i]))
            if len(found.samples) >= MOST_SAMPLES:
                return _cut(found, entry_id)
        if len(entries) < count:
            return found  # the hour's start reached
        top = _before(entries[-1][0])
    return _cut(found, entries[-1][0])


def _cut(found: RecentSamples, last_read: bytes) -> RecentSamples:
    """The reading stopped at ``last_read``: the values cover the span since then (or since
    the oldest value found, if its own time is earlier)."""
    found.cut = True
    found.since = min([_entry_time(last_read), *(s.at for s in found.samples)])
    return found


async def series_anomalies(
    index: AnomalyIndex, resource_id: str, metric: str
) -> list[dict[str, Any]]:
    items, _ = await index.query(Query(resource_id=resource_id, limit=MOST_ANOMALIES))
    return [item for item in items if item.get("metric") == metric]


def marked(items: list[dict[str, Any]]) -> list[Marked]:
    points = []
    for item in items:
        if item.get("value_given") is False:
            continue  # an alert posted without a value: no height to draw it at
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
