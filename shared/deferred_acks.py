"""Stream entries handled but acknowledged later, once their effect is durable.

The detector learns from each metric entry in memory and saves what it learned every few
seconds (a checkpoint). Acknowledged at once, the entries scored since the last checkpoint
would be gone after a ``kill -9``: the restarted process resumes from older state and never sees
them again (a series whose warm-up ended in that window warms up again, blind to incidents).
Held here instead, they stay in the group's pending list until a checkpoint that covers them has
been written, and a successor replays them.

A round of the owner's saving: ``take()`` the entries held so far (every one of them handled
before the round began), write, then ``acknowledge(taken)``; on a failed write ``put_back``.
While held or taken, an entry reclaimed from the pending list (it stayed there long enough to
look abandoned) is recognised with ``holds`` and not handled again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

ACK_EVERY = 1000  # entry ids per XACK

Taken = dict[str, list[str]]


class DeferredAcks:
    """The entry ids of ``group`` handled and not yet acknowledged, per stream."""

    def __init__(self, redis: Redis, group: str) -> None:
        self.redis = redis
        self.group = group
        self._held: dict[str, dict[str, None]] = {}
        self._taken: dict[str, set[str]] = {}
        self.acknowledged = 0

    def hold(self, stream: str, entry_id: str) -> None:
        self._held.setdefault(stream, {})[entry_id] = None

    def holds(self, stream: str, entry_id: str) -> bool:
        return entry_id in self._held.get(stream, ()) or entry_id in self._taken.get(stream, ())

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._held.values()) + sum(
            len(ids) for ids in self._taken.values()
        )

    def take(self) -> Taken:
        """What is held now, for one round (at most one round at a time)."""
        taken = {stream: list(ids) for stream, ids in self._held.items() if ids}
        self._held = {}
        for stream, ids in taken.items():
            self._taken.setdefault(stream, set()).update(ids)
        return taken

    def put_back(self, taken: Taken) -> None:
        """A round failed: its entries wait for the next one."""
        for stream, ids in taken.items():
            self._held[stream] = {**dict.fromkeys(ids), **self._held.get(stream, {})}
            self._drop_taken(stream, ids)

    async def acknowledge(self, taken: Taken) -> int:
        """XACK a round's entries (put back if Redis fails); how many."""
        if not taken:
            return 0
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, ids in taken.items():
                    for chunk in _chunks(ids, ACK_EVERY):
                        pipe.xack(stream, self.group, *chunk)
                await pipe.execute()
        except BaseException:
            self.put_back(taken)
            raise
        count = 0
        for stream, ids in taken.items():
            self._drop_taken(stream, ids)
            count += len(ids)
        self.acknowledged += count
        return count

    @asynccontextmanager
    async def round(self) -> AsyncIterator[Taken]:
        """``take()``, run the caller's writes, then acknowledge; put back if they fail."""
        taken = self.take()
        try:
            yield taken
        except BaseException:
            self.put_back(taken)
            raise
        await self.acknowledge(taken)

    def _drop_taken(self, stream: str, ids: list[str]) -> None:
        pending = self._taken.get(stream)
        if pending is not None:
            pending.difference_update(ids)
            if not pending:
                del self._taken[stream]


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
