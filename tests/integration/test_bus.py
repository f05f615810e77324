"""The Redis Streams bus against a real Redis: reclaiming, dead letters, bounded streams."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.bus import ConsumerOptions, EventBus, StreamConsumer, StreamEntry
from shared.events import MetricBatch, MetricSample
from shared.streams import dead_letter

STREAM = "scops:{test}"
GROUP = "g"


def batch(i: int) -> MetricBatch:
    sample = MetricSample(
        resource_id=f"r-{i}", metric="cpu", value=float(i), timestamp=datetime.now(UTC)
    )
    return MetricBatch(samples=[sample], correlation_id=f"c-{i}")


async def consume_until(consumer: StreamConsumer, done: asyncio.Event, timeout: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        stop.set()
        await task


async def test_entries_of_a_killed_consumer_are_reclaimed_and_processed(
    async_redis: Redis, redis_url: str
) -> None:
    bus = EventBus(async_redis, maxlen=10_000)
    published = await bus.publish_many((STREAM, batch(i)) for i in range(25))
    await StreamConsumer(
        async_redis, streams=[STREAM], group=GROUP, consumer="x", handler=_noop
    ).ensure_groups()

    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stuck_consumer", redis_url, STREAM, GROUP],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert doomed.stdout is not None
    line = ""
    while not line.startswith("READ"):  # skip its log lines
        line = await asyncio.to_thread(doomed.stdout.readline)
        assert line, "the consumer exited before reading"
    doomed.kill()  # SIGKILL: read, never acknowledged
    doomed.wait()
    doomed.stdout.close()
    pending = await async_redis.xpending(STREAM, GROUP)
    assert pending["pending"] == 10  # one batch read and held by the dead consumer

    seen: list[str] = []
    all_seen = asyncio.Event()

    async def record(entry: StreamEntry) -> None:
        seen.append(entry.entry_id)
        if set(seen) >= set(published):
            all_seen.set()

    survivor = StreamConsumer(
        async_redis,
        streams=[STREAM],
        group=GROUP,
        consumer="survivor",
        handler=record,
        options=ConsumerOptions(batch=10, block_ms=50, claim_idle_ms=300),
    )
    await consume_until(survivor, all_seen, timeout=10)
    assert sorted(set(seen)) == sorted(published)  # nothing lost
    assert (await async_redis.xpending(STREAM, GROUP))["pending"] == 0


async def _noop(entry: StreamEntry) -> None:
    return None


async def test_unreadable_entries_go_to_the_dead_letter_stream(async_redis: Redis) -> None:
    good = batch(1)
    future = good.model_copy(update={"schema_version": "2.0"})
    await async_redis.xadd(STREAM, {"type": "metrics.batch.v1", "data": "{not json"})
    await async_redis.xadd(STREAM, {"type": "no.such.event.v1", "data": "{}"})
    await async_redis.xadd(
        STREAM, {"type": "metrics.batch.v1", "v": "2.0", "data": future.model_dump_json()}
    )
    await EventBus(async_redis, 1000).publish(STREAM, good)
    handled: list[str] = []
    done = asyncio.Event()

    async def handler(entry: StreamEntry) -> None:
        handled.append(entry.event.correlation_id)
        done.set()

    consumer = StreamConsumer(
        async_redis,
        streams=[STREAM],
        group=GROUP,
        consumer="c",
        handler=handler,
        options=ConsumerOptions(block_ms=50),
    )
    await consume_until(consumer, done, timeout=5)
    assert handled == ["c-1"]
    dead = await async_redis.xrange(dead_letter(STREAM))
    reasons = [fields[b"dead_reason"].decode() for _, fields in dead]
    assert len(reasons) == 3
    assert "invalid metrics.batch.v1" in reasons[0]
    assert "unknown event type 'no.such.event.v1'" in reasons[1]
    assert "schema_version 2.0" in reasons[2]
    assert (await async_redis.xpending(STREAM, GROUP))["pending"] == 0


async def test_failing_entry_is_retried_then_dead_lettered(async_redis: Redis) -> None:
    await EventBus(async_redis, 1000).publish(STREAM, batch(1))
    await EventBus(async_redis, 1000).publish(STREAM, batch(2))
    attempts: dict[str, int] = {}
    done = asyncio.Event()

    async def handler(entry: StreamEntry) -> None:
        key = entry.event.correlation_id
        attempts[key] = attempts.get(key, 0) + 1
        if key == "c-2" and attempts[key] == 1:
            raise RuntimeError("transient")  # succeeds on the retry
        if key == "c-1":
            raise RuntimeError("always fails")

    consumer = StreamConsumer(
        async_redis,
        streams=[STREAM],
        group=GROUP,
        consumer="c",
        handler=handler,
        options=ConsumerOptions(block_ms=50, claim_idle_ms=100, max_deliveries=3),
    )

    async def watch() -> None:
        while not await async_redis.xlen(dead_letter(STREAM)):
            await asyncio.sleep(0.05)
        done.set()

    watcher = asyncio.create_task(watch())
    await consume_until(consumer, done, timeout=10)
    await watcher
    assert attempts == {"c-1": 3, "c-2": 2}
    dead = await async_redis.xrange(dead_letter(STREAM))
    assert len(dead) == 1
    assert dead[0][1][b"dead_reason"] == b"failed 3 deliveries"
    assert (await async_redis.xpending(STREAM, GROUP))["pending"] == 0


@pytest.mark.parametrize("maxlen", [1000])
async def test_streams_are_capped(async_redis: Redis, maxlen: int) -> None:
    bus = EventBus(async_redis, maxlen=maxlen)
    for start in range(0, 5000, 500):
        await bus.publish_many((STREAM, batch(i)) for i in range(start, start + 500))
    length = await async_redis.xlen(STREAM)
    assert maxlen <= length < 5000 // 2  # approximate trimming: whole nodes at a time


async def test_lag_pending_and_dead_letters_are_exported(async_redis: Redis) -> None:
    from prometheus_client import REGISTRY

    bus = EventBus(async_redis, 1000)
    await bus.publish_many((STREAM, batch(i)) for i in range(7))
    await async_redis.xadd(dead_letter(STREAM), {"dead_reason": "x"})
    consumer = StreamConsumer(
        async_redis, streams=[STREAM], group="stats", consumer="c", handler=_noop
    )
    await consumer.ensure_groups()
    await async_redis.xreadgroup("stats", "c", {STREAM: ">"}, count=3)  # read, never acked
    await consumer.export_stats()

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert value("scops_stream_lag", stream="test", group="stats") == 4
    assert value("scops_stream_pending", stream="test", group="stats") == 3
    assert value("scops_stream_length", stream="test") == 7
    assert value("scops_dead_letter_length", stream="test") == 1
