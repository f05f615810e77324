"""A consumer handed a read's events at once (``events_handler``), against a real Redis: what
it acknowledges, what it leaves pending for redelivery, and what goes to the dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from shared.bus import ConsumerOptions, EventBus, StreamConsumer, StreamEntry
from shared.events import MetricBatch, MetricSample
from shared.streams import dead_letter

STREAM = "scops:{at-once}"
GROUP = "g"


def batch(i: int) -> MetricBatch:
    sample = MetricSample(
        resource_id=f"r-{i}", metric="cpu", value=float(i), timestamp=datetime.now(UTC)
    )
    return MetricBatch(samples=[sample], correlation_id=f"c-{i}")


async def _unused(entry: StreamEntry) -> None:
    raise AssertionError("events go to events_handler")


class AtOnce:
    """Takes each read whole; fails the entries whose correlation id it is told to."""

    def __init__(self, failing: Collection[str] = (), raises: bool = False) -> None:
        self.reads: list[list[str]] = []
        self.failing = failing
        self.raises = raises

    async def __call__(self, entries: Sequence[StreamEntry]) -> list[str]:
        self.reads.append([entry.event.correlation_id for entry in entries])
        if self.raises:
            raise RuntimeError("the broker is away")
        return [e.entry_id for e in entries if e.event.correlation_id in self.failing]


def consumer(redis: Redis, handler: AtOnce, name: str = "c", **options: Any) -> StreamConsumer:
    return StreamConsumer(
        redis,
        streams=[STREAM],
        group=GROUP,
        consumer=name,
        handler=_unused,
        events_handler=handler,
        options=ConsumerOptions(**{"block_ms": 50, "claim_idle_ms": 100, **options}),
    )


async def pending(redis: Redis) -> int:
    return int((await redis.xpending(STREAM, GROUP))["pending"])


async def test_a_read_goes_over_whole_and_only_what_was_handled_is_acknowledged(
    async_redis: Redis,
) -> None:
    handler = AtOnce(failing={"c-2"})
    reader = consumer(async_redis, handler)
    await reader.ensure_groups()
    await async_redis.xadd(STREAM, {"type": "metrics.batch.v1", "data": "{not json"})
    await EventBus(async_redis, 1000).publish_many((STREAM, batch(i)) for i in range(1, 4))
    assert await reader.read_once() == 4
    assert handler.reads == [["c-1", "c-2", "c-3"]]  # in order, the unreadable one aside
    assert len(await async_redis.xrange(dead_letter(STREAM))) == 1
    rows = await async_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=10)
    assert len(rows) == 1  # the one it could not handle, left for redelivery
    await asyncio.sleep(0.15)  # idle longer than claim_idle_ms (100 ms): the point of the test
    again = AtOnce()
    assert await consumer(async_redis, again, name="d").reclaim() == 1
    assert again.reads == [["c-2"]]
    assert await pending(async_redis) == 0


async def test_a_handler_that_raises_leaves_the_whole_read_pending_until_dead_lettered(
    async_redis: Redis,
) -> None:
    failing = AtOnce(raises=True)
    reader = consumer(async_redis, failing, max_deliveries=2)
    await reader.ensure_groups()
    await EventBus(async_redis, 1000).publish_many((STREAM, batch(i)) for i in range(1, 3))
    assert await reader.read_once() == 2
    assert await pending(async_redis) == 2  # nothing acknowledged: nothing lost
    for _ in range(2):  # the second redelivery is over max_deliveries
        await asyncio.sleep(0.15)  # idle longer than claim_idle_ms (100 ms)
        await reader.reclaim()
    assert failing.reads == [["c-1", "c-2"], ["c-1", "c-2"]]
    assert len(await async_redis.xrange(dead_letter(STREAM))) == 2
    assert await pending(async_redis) == 0


async def test_entries_arriving_one_by_one_are_gathered_when_the_consumer_may_wait(
    async_redis: Redis,
) -> None:
    handler = AtOnce()
    reader = consumer(async_redis, handler, gather_ms=1000)
    await reader.ensure_groups()
    bus = EventBus(async_redis, 1000)
    stop = asyncio.Event()
    running = asyncio.create_task(reader.run(stop))
    try:
        await bus.publish(STREAM, batch(1))
        while not handler.reads:  # the first arrives alone and is handled at once
            await asyncio.sleep(0.01)
        for i in range(2, 5):  # one by one, while the consumer gathers
            await bus.publish(STREAM, batch(i))
        while await pending(async_redis) or len(handler.reads) < 2:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    assert handler.reads == [["c-1"], ["c-2", "c-3", "c-4"]]
