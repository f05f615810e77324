"""``GroupReader.hand_over_between``: what an owner handling a large entry in parts gets handed
over between two parts (small entries of the other streams only), against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from shared.stream_group import Fields, GroupReader, RawEntry, ReaderOptions
from tests.support.waiting import eventually

BUSY, OTHER, THIRD = "scops:{parts-a}", "scops:{parts-b}", "scops:{parts-c}"
GROUP = "g"


class InParts:
    """Handles "big" in two parts, asking for entries between them once others were added;
    records what it was handed, and what an entry handed over between parts got asking
    again."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.reader: GroupReader | None = None
        self.seen: list[str] = []
        self.nested: list[int] = []
        self.pending_meanwhile = -1

    async def __call__(self, entry: RawEntry) -> bool:
        assert self.reader is not None
        name = entry.fields[b"n"].decode()
        self.seen.append(name)
        if name == "big":
            await self.redis.xadd(OTHER, {"n": "small", "data": "x"})
            await self.redis.xadd(THIRD, {"n": "large", "data": "x" * 500})
            await self.redis.xadd(BUSY, {"n": "next", "data": "x"})
            await asyncio.sleep(0.01)  # longer than poll_ms: the idle streams are due a read
            await self.reader.hand_over_between(BUSY, max_bytes=100)
            self.pending_meanwhile = int((await self.redis.xpending(BUSY, GROUP))["pending"])
            self.seen.append("big, second part")
        elif name == "small":
            self.nested.append(await self.reader.hand_over_between(OTHER, max_bytes=100))
        return True


async def test_between_parts_only_small_entries_of_other_streams_go_and_nothing_nests(
    async_redis: Redis,
) -> None:
    owner = InParts(async_redis)
    reader = owner.reader = GroupReader(
        async_redis,
        streams=[BUSY, OTHER, THIRD],
        group=GROUP,
        consumer="a",
        on_entry=owner,
        options=ReaderOptions(block_ms=50, claim_idle_ms=60_000, poll_ms=1.0, max_queued_ms=60_000),
    )
    await reader.ensure_groups()
    await async_redis.xadd(BUSY, {"n": "big", "data": "x" * 500})
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await eventually(lambda: len(owner.seen) == 5, what="every entry")
    finally:
        stop.set()
        await task
    # "next" waits for "big" (order within a stream), "large" is no part-sized entry.
    assert owner.seen[:3] == ["big", "small", "big, second part"]
    assert sorted(owner.seen[3:]) == ["large", "next"]
    assert owner.nested == [0]
    assert owner.pending_meanwhile >= 1  # "big" stays pending until its owner answers
    for stream in (BUSY, OTHER, THIRD):
        assert (await async_redis.xpending(stream, GROUP))["pending"] == 0


class BusyStreamParts:
    """Handles "big" in two parts; between them, entries added to its own stream."""

    def __init__(self, redis: Redis, next_key: str) -> None:
        self.redis = redis
        self.next_key = next_key
        self.reader: GroupReader | None = None
        self.seen: list[str] = []

    async def __call__(self, entry: RawEntry) -> bool:
        assert self.reader is not None
        name = entry.fields[b"n"].decode()
        self.seen.append(name)
        if name == "big":
            await self.redis.xadd(BUSY, {"n": "next", "key": self.next_key, "data": "x"})
            await asyncio.sleep(0.01)  # longer than poll_ms: every stream is due a read
            await self.reader.hand_over_between(BUSY, max_bytes=100)
            self.seen.append("big, second part")
        return True


def _apart(entry: Fields, ahead: Sequence[Fields]) -> bool:
    return all(other[b"key"] != entry[b"key"] for other in ahead)


@pytest.mark.parametrize(
    ("next_key", "expected"),
    [("k2", ["big", "next", "big, second part"]), ("k1", ["big", "big, second part", "next"])],
)
async def test_between_parts_a_small_entry_of_the_same_stream_goes_when_apart_from_the_one_in_hand(
    async_redis: Redis, next_key: str, expected: list[str]
) -> None:
    """With ``allow_overtaking``, a small entry arriving behind the entry being handled in parts
    goes between two parts when it shares nothing with it; otherwise it keeps its place."""
    owner = BusyStreamParts(async_redis, next_key)
    reader = owner.reader = GroupReader(
        async_redis,
        streams=[BUSY, OTHER],
        group=GROUP,
        consumer="a",
        on_entry=owner,
        options=ReaderOptions(block_ms=50, claim_idle_ms=60_000, poll_ms=1.0, max_queued_ms=60_000),
    )
    reader.allow_overtaking(_apart, max_bytes=100)
    await reader.ensure_groups()
    await async_redis.xadd(BUSY, {"n": "big", "key": "k1", "data": "x" * 500})
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await eventually(lambda: len(owner.seen) == 3, what="every entry")
    finally:
        stop.set()
        await task
    assert owner.seen == expected
    assert (await async_redis.xpending(BUSY, GROUP))["pending"] == 0
