"""``GroupReader.allow_overtaking``: a small entry arriving on a stream with a backlog goes
before the backlog when its owner says nothing whose order matters is in both, and keeps its
place otherwise (against a real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from shared.stream_group import Fields, GroupReader, RawEntry, ReaderOptions
from tests.support.waiting import eventually

STREAM = "scops:{overtaking}"
GROUP = "g"


class FirstWaits:
    """Records entries; the first one handed over waits for ``release``."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.busy = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, entry: RawEntry) -> bool:
        self.seen.append(entry.fields[b"n"].decode())
        if len(self.seen) == 1:
            self.busy.set()
            await self.release.wait()
        return True


def apart(entry: Fields, ahead: Sequence[Fields]) -> bool:
    """Entries sharing a key keep their order."""
    return all(other[b"key"] != entry[b"key"] for other in ahead)


@pytest.mark.parametrize(("overtaking", "expected"), [(True, "a1 p a2 q"), (False, "a1 a2 p q")])
async def test_a_small_entry_goes_before_a_backlog_it_shares_nothing_with(
    async_redis: Redis, overtaking: bool, expected: str
) -> None:
    owner = FirstWaits()
    reader = GroupReader(
        async_redis,
        streams=[STREAM],
        group=GROUP,
        consumer="a",
        on_entry=owner,
        options=ReaderOptions(block_ms=50, claim_idle_ms=60_000, poll_ms=1.0, max_queued_ms=60_000),
    )
    if overtaking:
        reader.allow_overtaking(apart, max_bytes=100)
    await reader.ensure_groups()
    for name, key in (("a1", "k1"), ("a2", "k2")):  # read together: a2 waits in the queue
        await async_redis.xadd(STREAM, {"n": name, "key": key, "data": "x" * 500})
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await asyncio.wait_for(owner.busy.wait(), timeout=5)
        await async_redis.xadd(STREAM, {"n": "p", "key": "kp", "data": "x"})
        await async_redis.xadd(STREAM, {"n": "q", "key": "k2", "data": "x"})  # a2's key
        # Longer than poll_ms (the stream is due a read), and than the default max_queued_ms:
        # a2 has waited that long whenever the machine is slow, which must not decide here.
        await asyncio.sleep(0.15)
        owner.release.set()
        await eventually(lambda: len(owner.seen) == 4, what="every entry")
    finally:
        stop.set()
        await task
    assert " ".join(owner.seen) == expected
    assert (await async_redis.xpending(STREAM, GROUP))["pending"] == 0
