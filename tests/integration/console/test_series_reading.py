"""How far back the series chart reads a metrics shard, on a real Redis: the whole last hour
when the bounds allow, and when they do not, a span that says where the reading stopped."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from services.gateway.console import series_data
from shared.metric_batches import encode_columns
from shared.streams import metrics_stream

SHARDS = 1
STREAM = metrics_stream(0)


async def _write(redis: Redis, resource: str, ms: int, value: float) -> None:
    fields = encode_columns([resource], ["cpu"], [value], [ms * 1000], None)
    await redis.xadd(STREAM, fields, id=f"{ms}-0")


async def test_values_of_the_whole_hour_are_read_across_chunks(
    async_redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_data, "CHUNK", 7)
    now = time.time()
    start_ms = int((now - 3000) * 1000)  # 50 minutes ago
    await _write(async_redis, "web-1", int((now - 7200) * 1000), -1.0)  # before the hour
    for i in range(40):
        await _write(async_redis, "web-1", start_ms + i * 60_000, float(i))
        await _write(async_redis, "noisy-2", start_ms + i * 60_000 + 1, 0.0)
    found = await series_data.recent_samples(async_redis, SHARDS, "web-1", "cpu", now=now)
    assert not found.cut
    assert [s.value for s in found.samples] == [float(i) for i in reversed(range(40))]
    assert found.since == pytest.approx(now - series_data.WINDOW_S)


async def test_a_bound_reached_before_the_hours_start_says_where_it_stopped(
    async_redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_data, "CHUNK", 5)
    monkeypatch.setattr(series_data, "MOST_ENTRIES", 20)
    now = time.time()
    start_ms = int((now - 3000) * 1000)
    for i in range(40):
        await _write(async_redis, "web-1", start_ms + i * 60_000, float(i))
    found = await series_data.recent_samples(async_redis, SHARDS, "web-1", "cpu", now=now)
    assert found.cut
    assert [s.value for s in found.samples] == [float(i) for i in reversed(range(20, 40))]
    assert found.since == pytest.approx((start_ms + 20 * 60_000) / 1000)
