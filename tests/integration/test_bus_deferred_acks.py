"""A consumer whose owner acknowledges later (``shared.deferred_acks``), on a real Redis: what it
handled stays pending until a round acknowledges it, a failed round keeps it, and an entry
held long enough to be reclaimed is neither handled again nor dead-lettered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.bus import ConsumerOptions, EventBus, StreamConsumer, StreamEntry
from shared.deferred_acks import DeferredAcks
from shared.events import MetricBatch, MetricSample
from shared.streams import dead_letter

STREAM = "scops:{deferred-test}"
GROUP = "g"


def batch(i: int) -> MetricBatch:
    sample = MetricSample(resource_id=f"r-{i}", metric="cpu", value=i, timestamp=datetime.now(UTC))
    return MetricBatch(samples=[sample])


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, entry: StreamEntry) -> None:
        self.seen.append(entry.entry_id)


async def pending(redis: Redis) -> int:
    return int((await redis.xpending(STREAM, GROUP))["pending"])


def consumer(redis: Redis, handler: Recorder, acks: DeferredAcks, **options: int) -> StreamConsumer:
    values: dict[str, Any] = {"batch": 10, "block_ms": 50, "claim_idle_ms": 30_000, **options}
    return StreamConsumer(
        redis,
        streams=[STREAM],
        group=GROUP,
        consumer="c",
        handler=handler,
        options=ConsumerOptions(**values),
        deferred=acks,
    )


async def test_handled_entries_stay_pending_until_a_round_acknowledges_them(
    async_redis: Redis,
) -> None:
    ids = await EventBus(async_redis, 1000).publish_many((STREAM, batch(i)) for i in range(5))
    acks = DeferredAcks(async_redis, GROUP)
    recorder = Recorder()
    reading = consumer(async_redis, recorder, acks)
    await reading.ensure_groups()
    await reading.read_once()
    assert recorder.seen == ids
    assert await pending(async_redis) == 5
    assert len(acks) == 5

    taken = acks.take()
    more = await EventBus(async_redis, 1000).publish(STREAM, batch(9))
    await reading.read_once()  # handled during the round: not this round's
    await acks.acknowledge(taken)
    assert await pending(async_redis) == 1
    assert [
        row["message_id"].decode()
        for row in await async_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=10)
    ] == [more]
    assert len(acks) == 1 and acks.acknowledged == 5


async def test_a_failed_round_keeps_its_entries_for_the_next(async_redis: Redis) -> None:
    await EventBus(async_redis, 1000).publish_many((STREAM, batch(i)) for i in range(3))
    acks = DeferredAcks(async_redis, GROUP)
    reading = consumer(async_redis, Recorder(), acks)
    await reading.ensure_groups()
    await reading.read_once()
    with pytest.raises(OSError):
        async with acks.round():
            raise OSError("the checkpoint write failed")
    assert await pending(async_redis) == 3
    assert len(acks) == 3
    async with acks.round() as taken:
        assert sum(len(ids) for ids in taken.values()) == 3
    assert await pending(async_redis) == 0
    assert len(acks) == 0


async def test_a_held_entry_reclaimed_is_not_handled_again_nor_dead_lettered(
    async_redis: Redis,
) -> None:
    """Held past ``claim_idle_ms`` (a slow checkpoint), an entry looks abandoned: every reclaim
    delivers it again. It was handled already; after ``max_deliveries`` reclaims it must still
    wait for its round, not go to the dead-letter stream acknowledged."""
    (entry_id,) = await EventBus(async_redis, 1000).publish_many([(STREAM, batch(1))])
    acks = DeferredAcks(async_redis, GROUP)
    recorder = Recorder()
    reading = consumer(async_redis, recorder, acks, claim_idle_ms=20, max_deliveries=2)
    await reading.ensure_groups()
    await reading.read_once()
    for _ in range(4):
        await asyncio.sleep(0.03)
        assert await reading.reclaim() == 1
    assert recorder.seen == [entry_id]
    assert await async_redis.xlen(dead_letter(STREAM)) == 0
    assert await pending(async_redis) == 1
    async with acks.round():
        pass
    assert await pending(async_redis) == 0


async def test_a_consumer_of_reads_at_once_cannot_defer() -> None:
    with pytest.raises(ValueError, match="at once"):

        async def at_once(entries: object) -> list[str]:
            return []

        StreamConsumer(
            Redis(),
            streams=[STREAM],
            group=GROUP,
            consumer="c",
            handler=Recorder(),
            events_handler=at_once,
            deferred=DeferredAcks(Redis(), GROUP),
        )


async def test_entries_taken_over_from_killed_predecessors_are_not_dead_lettered(
    async_redis: Redis,
) -> None:
    """A sole owner killed before its held entries were acknowledged, again and again (a
    detector killed faster than it checkpoints): each successor takes them over at start. Its
    predecessors' deaths are not the entries' failures: past ``max_deliveries`` successors they
    are still handed over, never dead-lettered."""
    (entry_id,) = await EventBus(async_redis, 1000).publish_many([(STREAM, batch(1))])
    handed: list[int] = []
    for life in range(6):
        recorder = Recorder()
        acks = DeferredAcks(async_redis, GROUP)
        successor = StreamConsumer(
            async_redis,
            streams=[STREAM],
            group=GROUP,
            consumer=f"detector-{life}",
            handler=recorder,
            options=ConsumerOptions(block_ms=50, max_deliveries=2, sole_owner=True),
            deferred=acks,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(successor.run(stop))
        deadline = asyncio.get_running_loop().time() + 5
        while not recorder.seen:
            assert asyncio.get_running_loop().time() < deadline, f"life {life}: not handed over"
            await asyncio.sleep(0.01)
        stop.set()
        await running  # its held entry never acknowledged: as if killed
        handed.append(len(recorder.seen))
    assert handed == [1] * 6
    assert await async_redis.xlen(dead_letter(STREAM)) == 0
    rows = await async_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=10)
    assert [(row["message_id"].decode(), row["times_delivered"]) for row in rows] == [(entry_id, 1)]
