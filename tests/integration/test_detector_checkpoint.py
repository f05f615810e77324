"""The detector's checkpoint against a real Redis: it saves in slices that let the event loop
run, ends a round while scoring goes on, and keeps series it could not write for the next
round."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from scops.local_redis import free_port
from services.detector.checkpoint import Checkpointer, state_key
from services.detector.detection_engine import DetectionEngine
from shared.deferred_acks import DeferredAcks
from shared.metric_batches import ColumnBatch

SHARDS = 4
START_US = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6)


def fed_engine(series: int, samples: int = 30) -> DetectionEngine:
    engine = DetectionEngine.with_warmup(10, max_future_s=None)
    names = [f"host-{i}" for i in range(series)]
    rng = random.Random(7)
    for step in range(samples):
        engine.process_columns(
            ColumnBatch(
                event_id="e",
                correlation_id="c",
                occurred_at=datetime.now(UTC),
                resource_id=names,
                metric=["cpu_utilization"] * series,
                value=[40 + rng.gauss(0, 1) for _ in names],
                timestamp_us=[START_US + step * 60_000_000] * series,
            )
        )
    return engine


async def saved_fields(redis: Redis) -> int:
    return sum([await redis.hlen(state_key(shard)) for shard in range(SHARDS)])


async def test_a_checkpoint_lets_the_loop_run_between_slices(async_redis: Redis) -> None:
    engine = fed_engine(40)
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    # A budget no series fits in: one series per slice, and the loop runs after each.
    checkpointer = Checkpointer(async_redis, engine, SHARDS, slice_s=1e-9, write_every=16)
    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    try:
        before = turns
        assert await checkpointer.save() == 40
        assert turns - before >= 39
    finally:
        other.cancel()
    assert checkpointer.slices == 40
    assert await saved_fields(async_redis) == 40
    assert not engine.dirty

    restored = DetectionEngine.with_warmup(10, max_future_s=None)
    assert await Checkpointer(async_redis, restored, SHARDS).load(list(range(SHARDS))) == 40
    assert set(restored.series) == set(engine.series)


async def test_a_round_ends_while_scoring_keeps_changing_series(async_redis: Redis) -> None:
    engine = fed_engine(30)
    keys = list(engine.series)

    async def scoring() -> None:
        while True:
            engine.dirty.update(keys)  # every series changed again, all the time
            await asyncio.sleep(0)

    running = asyncio.create_task(scoring())
    try:
        checkpointer = Checkpointer(async_redis, engine, SHARDS, slice_s=1e-9, write_every=8)
        saved = await asyncio.wait_for(checkpointer.save(), timeout=10)
    finally:
        running.cancel()
    assert saved >= 1
    assert await saved_fields(async_redis) == saved


async def test_series_whose_write_failed_are_saved_by_the_next_round(async_redis: Redis) -> None:
    engine = fed_engine(25)
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisError):
            await Checkpointer(unreachable, engine, SHARDS, write_every=10).save()
    finally:
        await unreachable.aclose()
    assert len(engine.dirty) == 25

    assert await Checkpointer(async_redis, engine, SHARDS, write_every=10).save() == 25
    assert await saved_fields(async_redis) == 25


async def test_a_round_acknowledges_the_entries_scored_before_it_began(
    async_redis: Redis,
) -> None:
    """Entries are acknowledged once a written checkpoint covers them: not those scored while
    the round runs, and none when its write fails."""
    stream, group = "scops:{checkpoint-acks}", "detector"
    await async_redis.xgroup_create(stream, group, id="0", mkstream=True)
    for i in range(4):
        await async_redis.xadd(stream, {"n": str(i)})
    read = await async_redis.xreadgroup(group, "d", {stream: ">"}, count=10)
    ids = [entry_id.decode() for entry_id, _ in read[0][1]]
    acks = DeferredAcks(async_redis, group)
    for entry_id in ids[:3]:
        acks.hold(stream, entry_id)
    engine = fed_engine(20)

    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisError):
            await Checkpointer(unreachable, engine, SHARDS, acks=acks).save()
    finally:
        await unreachable.aclose()
    assert len(acks) == 3
    assert (await async_redis.xpending(stream, group))["pending"] == 4

    async def scoring_the_fourth_meanwhile() -> None:
        await asyncio.sleep(0)
        acks.hold(stream, ids[3])

    checkpointer = Checkpointer(async_redis, engine, SHARDS, slice_s=1e-9, write_every=4, acks=acks)
    meanwhile = asyncio.create_task(scoring_the_fourth_meanwhile())
    assert await checkpointer.save() == 20
    await meanwhile
    rows = await async_redis.xpending_range(stream, group, min="-", max="+", count=10)
    assert [row["message_id"].decode() for row in rows] == [ids[3]]
    assert await checkpointer.save() == 0  # nothing changed: the held entry is covered
    assert (await async_redis.xpending(stream, group))["pending"] == 0
