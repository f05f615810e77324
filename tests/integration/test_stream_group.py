"""The one consumer-group loop (shared.stream_group) against a real Redis: what it takes over,
what it acknowledges for its owner, and how it stops."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis

from shared.stream_group import GroupReader, RawEntry, ReaderOptions
from tests.support.freeze_proxy import FreezeProxy
from tests.support.waiting import eventually

STREAM = "scops:{reader-test}"
GROUP = "g"


class Recorder:
    def __init__(self, ack: bool = True, hold: asyncio.Event | None = None) -> None:
        self.seen: list[RawEntry] = []
        self.ack = ack
        self.hold = hold

    async def __call__(self, entry: RawEntry) -> bool:
        self.seen.append(entry)
        if self.hold is not None:
            await self.hold.wait()
        return self.ack


def reader(redis: Redis, on_entry: Recorder, consumer: str = "a", **options: object) -> GroupReader:
    values: dict[str, object] = {"block_ms": 50, "claim_idle_ms": 100, **options}
    return GroupReader(
        redis,
        streams=[STREAM],
        group=GROUP,
        consumer=consumer,
        on_entry=on_entry,
        options=ReaderOptions(**values),  # type: ignore[arg-type]
    )


async def pending(redis: Redis) -> int:
    return int((await redis.xpending(STREAM, GROUP))["pending"])


async def test_entries_trimmed_while_pending_are_acknowledged_not_handed_over(
    async_redis: Redis,
) -> None:
    first = reader(async_redis, Recorder(ack=False))
    await first.ensure_groups()
    ids = [await async_redis.xadd(STREAM, {"n": str(i)}) for i in range(3)]
    await first.read_once()
    assert await pending(async_redis) == 3  # read, never acknowledged: its owner died
    await async_redis.xdel(STREAM, ids[0])  # trimmed away meanwhile
    await asyncio.sleep(0.15)  # older than claim_idle_ms (100 ms): the point of the test
    taker = Recorder()
    second = reader(async_redis, taker, consumer="b")
    await second.reclaim()
    assert [e.fields[b"n"] for e in taker.seen] == [b"1", b"2"]
    assert all(e.reclaimed for e in taker.seen)
    assert await pending(async_redis) == 0  # the trimmed one too (Redis 6.2 or 7)


async def test_an_owner_that_acknowledges_itself_keeps_its_entries_pending_until_it_does(
    async_redis: Redis,
) -> None:
    owner = Recorder(ack=False)
    loop = reader(async_redis, owner)
    await loop.ensure_groups()
    entry_id = await async_redis.xadd(STREAM, {"n": "1"})
    await loop.read_once()
    assert len(owner.seen) == 1 and await pending(async_redis) == 1
    await async_redis.xack(STREAM, GROUP, entry_id)
    assert await pending(async_redis) == 0


@pytest.mark.parametrize("sole_owner", [False, True])
async def test_a_sole_owner_takes_over_what_its_predecessor_left_before_anything_newer(
    async_redis: Redis, sole_owner: bool
) -> None:
    gone = reader(async_redis, Recorder(ack=False), consumer="gone", claim_idle_ms=60_000)
    await gone.ensure_groups()
    await async_redis.xadd(STREAM, {"n": "1"})
    await gone.read_once()  # read, then killed: pending under its name, idle for a moment only
    seen = Recorder()
    loop = reader(async_redis, seen, consumer="next", claim_idle_ms=60_000, sole_owner=sole_owner)
    await async_redis.xadd(STREAM, {"n": "2"})
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await eventually(lambda: len(seen.seen) == (2 if sole_owner else 1), what="the entries")
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    if sole_owner:  # in their order, the first one as taken over
        assert [(e.fields[b"n"], e.reclaimed) for e in seen.seen] == [(b"1", True), (b"2", False)]
        assert await pending(async_redis) == 0
    else:  # a group shared by live consumers: another one's recent entry is left alone
        assert [e.fields[b"n"] for e in seen.seen] == [b"2"]
        assert await pending(async_redis) == 1


async def test_a_sole_owner_acknowledges_what_was_trimmed_while_its_predecessor_held_it(
    async_redis: Redis,
) -> None:
    gone = reader(async_redis, Recorder(ack=False), consumer="gone")
    await gone.ensure_groups()
    ids = [await async_redis.xadd(STREAM, {"n": str(i)}) for i in range(3)]
    await gone.read_once()
    await async_redis.xdel(STREAM, ids[1])
    seen = Recorder()
    successor = reader(async_redis, seen, consumer="next", sole_owner=True)
    assert await successor.take_over() == 3
    assert [e.fields[b"n"] for e in seen.seen] == [b"0", b"2"]
    assert await pending(async_redis) == 0


async def test_the_group_is_made_again_when_the_stream_is_deleted_under_it(
    async_redis: Redis,
) -> None:
    seen = Recorder()
    loop = reader(async_redis, seen)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await async_redis.xadd(STREAM, {"n": "1"})
        await eventually(lambda: len(seen.seen) == 1, what="the first entry")
        await async_redis.delete(STREAM)  # NOGROUP on the next read: the loop makes it again
        await eventually(lambda: _has_group(async_redis), what="the group made again")
        await async_redis.xadd(STREAM, {"n": "2"})
        await eventually(lambda: len(seen.seen) == 2, what="the entry after the deletion")
    finally:
        stop.set()
        await task


async def _has_group(redis: Redis) -> bool:
    if not await redis.exists(STREAM):
        return False
    return any(g["name"] in (GROUP, GROUP.encode()) for g in await redis.xinfo_groups(STREAM))


@pytest.mark.parametrize("poll_ms", [None, 1.0])
async def test_a_reader_told_to_stop_mid_batch_leaves_the_rest_pending_when_asked_to(
    async_redis: Redis, poll_ms: float | None
) -> None:
    hold = asyncio.Event()
    slow = Recorder(hold=hold)
    loop = reader(async_redis, slow, finish_batch_on_stop=False, poll_ms=poll_ms)
    await loop.ensure_groups()
    for i in range(3):
        await async_redis.xadd(STREAM, {"n": str(i)})
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await eventually(lambda: len(slow.seen) == 1, what="the first delivery under way")
    stop.set()
    hold.set()
    await task
    assert len(slow.seen) == 1  # the two others were not started
    assert await pending(async_redis) == 2  # and stay pending for the next process


OTHER = "scops:{reader-test-2}"


class Clocked(Recorder):
    """Records entries; the first one handed over waits for ``release`` (set by the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.busy = asyncio.Event()

    async def __call__(self, entry: RawEntry) -> bool:
        self.seen.append(entry)
        if len(self.seen) == 1:
            self.busy.set()
            await self.release.wait()
        return True


def two_stream_reader(redis: Redis, on_entry: Recorder, **options: object) -> GroupReader:
    values: dict[str, object] = {"block_ms": 50, "claim_idle_ms": 60_000, **options}
    return GroupReader(
        redis,
        streams=[STREAM, OTHER],
        group=GROUP,
        consumer="a",
        on_entry=on_entry,
        options=ReaderOptions(**values),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("poll_ms", "expected"), [(1.0, "a1 p a2 a3"), (None, "a1 a2 a3 p")])
async def test_an_entry_on_an_idle_stream_waits_only_for_the_entry_being_handled(
    async_redis: Redis, poll_ms: float | None, expected: str
) -> None:
    handler = Clocked()
    # a2 may wait past the default max_queued_ms on a slow machine: not what is tested here
    loop = two_stream_reader(async_redis, handler, poll_ms=poll_ms, max_queued_ms=60_000)
    await loop.ensure_groups()
    for name in ("a1", "a2", "a3"):
        await async_redis.xadd(STREAM, {"n": name, "data": "x" * 500})
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(handler.busy.wait(), timeout=5)
        await async_redis.xadd(OTHER, {"n": "p", "data": "x"})  # arrives while a1 is handled
        await asyncio.sleep(0.15)  # a1 takes longer than poll_ms (and the default max_queued_ms)
        handler.release.set()
        await eventually(lambda: len(handler.seen) == 4, what="every entry")
    finally:
        stop.set()
        await task
    assert " ".join(e.fields[b"n"].decode() for e in handler.seen) == expected
    assert await pending(async_redis) == 0


async def test_the_smallest_entry_goes_first_but_never_past_one_queued_too_long(
    async_redis: Redis,
) -> None:
    handler = Clocked()
    loop = two_stream_reader(async_redis, handler, poll_ms=1.0, max_queued_ms=50)
    await loop.ensure_groups()
    await async_redis.xadd(STREAM, {"n": "big", "data": "x" * 500})
    await async_redis.xadd(OTHER, {"n": "small-1", "data": "x"})
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(handler.busy.wait(), timeout=5)  # small-1: the smaller head
        await async_redis.xadd(OTHER, {"n": "small-2", "data": "x"})
        await asyncio.sleep(0.08)  # "big" has now waited longer than max_queued_ms
        handler.release.set()
        await eventually(lambda: len(handler.seen) == 3, what="every entry")
    finally:
        stop.set()
        await task
    assert [e.fields[b"n"] for e in handler.seen] == [b"small-1", b"big", b"small-2"]
    assert await pending(async_redis) == 0


async def test_a_sole_owner_whose_read_answer_was_lost_takes_its_entries_before_newer_ones(
    redis_url: str, async_redis: Redis
) -> None:
    """Redis ran the read and its answer was lost (Redis killed right after, the connection
    cut): the entries it gave are pending for this consumer, unseen; they are handed over
    before anything newer, not once idle for the claim time."""
    proxy = FreezeProxy(urlparse(redis_url).port or 6379)
    through = Redis.from_url(proxy.url)
    hold = asyncio.Event()
    seen = Recorder(hold=hold)
    loop = reader(through, seen, claim_idle_ms=60_000, sole_owner=True)
    await loop.ensure_groups()
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await async_redis.xadd(STREAM, {"n": "1"})
        await eventually(lambda: len(seen.seen) == 1, what="the first entry")
        await async_redis.xadd(STREAM, {"n": "2"})  # given by the read whose answer is lost
        proxy.arm(rb"XREADGROUP", answer_lost=True)
        hold.set()
        await asyncio.to_thread(proxy.tripped.wait, 10)
        await async_redis.xadd(STREAM, {"n": "3"})
        await eventually(lambda: len(seen.seen) >= 3, what="the entries", timeout=10)
    finally:
        stop.set()
        await task
        await through.aclose()
        proxy.close()
    assert [e.fields[b"n"] for e in seen.seen] == [b"1", b"2", b"3"]
