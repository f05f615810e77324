"""A large metric entry is scored in parts (``MetricBatchHandler.part_samples``): the verdicts
and the events are those of scoring it in one go, the entry stays pending until its last part
is scored and published, and a small entry of another shard arriving meanwhile is scored
between two parts instead of waiting for the whole entry, and one arriving behind a backlog of
its own shard goes before the backlog when it shares no resource with it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis

from services.detector.consumer import MetricBatchHandler
from services.detector.detection_engine import DetectionEngine
from services.detector.model_manager import ModelManager, MultivariateOptions
from services.detector.severity import HardLimit, SeverityPolicy
from services.detector.wiring import BETWEEN_PARTS_BYTES, metric_entry_overtakes
from shared.bus import ConsumerOptions, EventBus, StreamConsumer
from shared.events import AnomalyEvent, decode_event
from shared.metric_batches import decode_columns, encode_columns, timestamp_us
from shared.stream_group import running
from shared.streams import ANOMALIES, GROUP_DETECTOR, metrics_stream
from tests.support.waiting import eventually

START = datetime(2026, 1, 1, tzinfo=UTC)
METRIC = "queue_percent"
BIG, SMALL = metrics_stream(0), metrics_stream(1)
RESOURCES = [f"queue-{i}" for i in range(6)]


def _engine() -> DetectionEngine:
    # Past 93 % is an anomaly whatever the model learned: events that do not depend on luck.
    limit = HardLimit(metric=METRIC, above=93, severity="low")
    return DetectionEngine(policy=SeverityPolicy(hard_limits=(limit,)), max_future_s=None)


def _fields(
    resources: list[str], minutes: range, value: Callable[[str, int], float]
) -> dict[str, bytes | str]:
    """One entry: every resource's sample of each minute, minute by minute."""
    rows = [(r, m) for m in minutes for r in resources]
    return encode_columns(
        [r for r, _ in rows],
        [METRIC] * len(rows),
        [value(r, m) for r, m in rows],
        [timestamp_us(START + timedelta(minutes=m)) for _, m in rows],
        None,
        "parts-test",
    )


def _history() -> Callable[[str, int], float]:
    rng = random.Random(11)
    noise = {(r, m): rng.gauss(0, 1.5) for r in RESOURCES for m in range(400)}

    def value(resource: str, minute: int) -> float:
        if resource == "queue-2" and 150 <= minute < 170:
            return 96.0  # an incident in the middle of the entry
        if resource == "queue-5" and minute >= 395:
            return 97.0  # and one in its last samples
        return 85.0 + noise[(resource, minute)]

    return value


def _handler(redis: Redis, tmp_path: Path, part_samples: int) -> MetricBatchHandler:
    return MetricBatchHandler(
        _engine(),
        EventBus(redis, 10_000),
        redis,
        ModelManager(tmp_path, MultivariateOptions(metrics=("cpu", "mem"))),
        part_samples=part_samples,
    )


def _consumer(redis: Redis, handler: MetricBatchHandler) -> StreamConsumer:
    return StreamConsumer(
        redis,
        streams=[BIG, SMALL],
        group=GROUP_DETECTOR,
        consumer="parts-test",
        handler=handler.unexpected,
        batch_handler=handler,
        options=ConsumerOptions(block_ms=50, poll_ms=1.0),
    )


async def _anomalies(redis: Redis) -> list[AnomalyEvent]:
    rows = await redis.xrange(ANOMALIES)
    events = [decode_event(f[b"type"].decode(), f[b"data"]) for _, f in rows]
    return [e for e in events if isinstance(e, AnomalyEvent)]


async def _pending(redis: Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP_DETECTOR))["pending"])


async def test_a_large_entry_scored_in_parts_raises_what_scoring_it_at_once_raises(
    async_redis: Redis, tmp_path: Path
) -> None:
    fields = _fields(RESOURCES, range(400), _history())  # 2,400 samples
    reference = _engine()
    expected = [
        e
        for e in reference.process_columns(decode_columns(fields["data"]))
        if isinstance(e, AnomalyEvent)
    ]
    assert {e.resource_id for e in expected} == {"queue-2", "queue-5"}

    handler = _handler(async_redis, tmp_path, part_samples=37)
    consumer = _consumer(async_redis, handler)
    pending_between_parts: list[int] = []

    async def between_parts(stream: str) -> None:
        assert stream == BIG
        pending_between_parts.append(await _pending(async_redis, BIG))
        await consumer.reader.hand_over_between(stream, 8192)

    handler.between_parts = between_parts
    await consumer.ensure_groups()
    await async_redis.xadd(BIG, fields)
    async with running([consumer]):
        await eventually(
            lambda: _pending_is(async_redis, BIG, 0, after=handler.engine.samples_scored == 2400),
            what="the entry scored and acknowledged",
        )
    published = await _anomalies(async_redis)
    assert [(e.event_id, e.resource_id, e.value) for e in published] == [
        (e.event_id, e.resource_id, e.value) for e in expected
    ]
    # Every series learned the same: the states the checkpoint would save are equal.
    assert handler.engine.take_dirty() == reference.take_dirty()
    assert len(pending_between_parts) == -(-2400 // 37) - 1
    assert set(pending_between_parts) == {1}  # not acknowledged before its last part


async def test_a_small_entry_of_another_shard_is_scored_between_two_parts_of_a_large_one(
    async_redis: Redis, tmp_path: Path
) -> None:
    handler = _handler(async_redis, tmp_path, part_samples=50)
    consumer = _consumer(async_redis, handler)
    sent = asyncio.Event()

    async def between_parts(stream: str) -> None:
        if not sent.is_set():  # a spike on another shard arrives during the first part
            sent.set()
            spike = _fields(["probe-1"], range(399, 400), lambda _r, _m: 99.0)
            await async_redis.xadd(SMALL, spike)
            await asyncio.sleep(0.01)  # longer than poll_ms: the other shard is due a read
        await consumer.reader.hand_over_between(stream, 8192)

    handler.between_parts = between_parts
    await consumer.ensure_groups()
    await async_redis.xadd(BIG, _fields(RESOURCES, range(400), _history()))
    async with running([consumer]):
        await eventually(
            lambda: _pending_is(async_redis, BIG, 0, after=handler.engine.samples_scored == 2401),
            what="both entries scored and acknowledged",
        )
    published = await _anomalies(async_redis)
    # The spike's anomaly is out before any of the large entry's (raised by later parts),
    # and nothing was published twice.
    assert [e.resource_id for e in published][:1] == ["probe-1"]
    assert {e.resource_id for e in published[1:]} == {"queue-2", "queue-5"}
    assert len({e.event_id for e in published}) == len(published)
    assert await _pending(async_redis, SMALL) == 0


async def _pending_is(redis: Redis, stream: str, count: int, after: bool) -> bool:
    return after and await _pending(redis, stream) == count


async def test_a_sample_arriving_behind_a_backlog_of_its_shard_is_scored_before_it(
    async_redis: Redis, tmp_path: Path
) -> None:
    handler = _handler(async_redis, tmp_path, part_samples=50)
    consumer = _consumer(async_redis, handler)
    consumer.reader.allow_overtaking(metric_entry_overtakes, BETWEEN_PARTS_BYTES)
    sent = asyncio.Event()

    async def between_parts(stream: str) -> None:
        if not sent.is_set():  # during the backlog's first entry
            sent.set()
            spike = _fields(["probe-1"], range(399, 400), lambda _r, _m: 99.0)
            await async_redis.xadd(BIG, spike)
            # A later sample of a series the backlog holds: it must not go before it.
            await async_redis.xadd(BIG, _fields(["queue-0"], range(500, 501), lambda *_: 85.0))
        await consumer.reader.hand_over_between(stream, BETWEEN_PARTS_BYTES)

    handler.between_parts = between_parts
    await consumer.ensure_groups()
    history = _history()
    for minutes in (range(0, 130), range(130, 260), range(260, 400)):  # the backlog
        await async_redis.xadd(BIG, _fields(RESOURCES, minutes, history))
    async with running([consumer]):
        await eventually(
            lambda: _pending_is(async_redis, BIG, 0, after=handler.engine.samples_scored == 2402),
            what="every entry scored and acknowledged",
        )
    published = await _anomalies(async_redis)
    # The spike's anomaly is out before the backlog's (queue-2's incident is in its second
    # entry, queue-5's in its third), and queue-0's late sample was learned, not skipped.
    assert [e.resource_id for e in published][:1] == ["probe-1"]
    assert {e.resource_id for e in published[1:]} == {"queue-2", "queue-5"}
    assert (
        handler.engine.series[("queue-0", METRIC)].last_ts
        == (START + timedelta(minutes=500)).timestamp()
    )
