"""Reading Redis streams through a consumer group: the one loop every consumer in the system
runs, whatever its entries hold.

The loop makes the group when it is missing (``BUSYGROUP`` is fine: another process made it),
and again after a Redis error (the stream may have been deleted meanwhile); takes over entries
left idle in any consumer's pending list (XAUTOCLAIM, paced at half the idle time, and
acknowledging entries trimmed away while pending, which nobody can process any more; a
``sole_owner`` of its streams takes everything pending over at start, before anything new, their
delivery counts kept); then
reads new entries (XREADGROUP, blocking). Each entry goes to the owner's ``on_entry``, which
says whether the entry may be acknowledged now; an owner that acknowledges in its own
transaction answers False and does it itself.

By default each read's entries are handed over in turn, then acknowledged together; an owner
given ``on_entries`` gets a read's entries at once and answers which may be acknowledged (one
step for many, such as queueing their tasks in one round trip). With
``ReaderOptions.poll_ms`` (a latency-bound owner such as the detector) entries are handed over
one at a time from per-stream queues, the smallest head first (order within a stream is kept),
and streams with nothing queued are read again without blocking at most every ``poll_ms``
while the others' entries are handled: an entry arriving on an idle stream waits for the one
being handled, not for everything read before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

log = structlog.get_logger("shared.stream_group")

Fields = dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class RawEntry:
    stream: str
    entry_id: bytes
    fields: Fields
    reclaimed: bool  # taken over from a pending list (maybe delivered before)


EntryHandler = Callable[[RawEntry], Awaitable[bool]]
# Whether a queued entry (its fields) may be handed over before the entries queued ahead of it
# in its stream (theirs): the owner knows that nothing whose order matters is in both.
Overtakes = Callable[[Fields, Sequence[Fields]], bool]
OVERTAKE_SCAN = 16  # queued entries of a stream looked at for one that may overtake
# A read's entries (of one stream) at once; answers the ids that may be acknowledged now.
EntriesHandler = Callable[[str, Sequence[RawEntry]], Awaitable[Sequence[bytes]]]


@dataclass(frozen=True)
class ReaderOptions:
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    # Finish a batch already read when told to stop (short handlers), or leave the rest
    # pending for the next process (handlers that may take long, such as a delivery).
    finish_batch_on_stop: bool = True
    # Hand entries over one at a time, smallest first, reading idle streams again at most
    # this often (module docstring); None: a read's entries in turn.
    poll_ms: float | None = None
    # An entry queued this long goes next whatever its size (never starved by smaller ones).
    max_queued_ms: float = 100.0
    # After a read that did not fill a batch, wait this long before the next one, so entries
    # arriving one by one are handled many at a time (an owner whose entries may wait, such
    # as one counting them); 0: read again at once.
    gather_ms: float = 0.0
    # This consumer alone reads its streams in the group (the detector owns its shards): at
    # start it takes over at once whatever is pending for another consumer (a predecessor
    # killed after its read), before reading anything new, so those entries keep their place
    # ahead of newer ones. Otherwise they would wait ``claim_idle_ms`` and come after them.
    sole_owner: bool = False


@dataclass(slots=True)
class _Queued:
    entry_id: bytes
    fields: Fields
    size: int
    since: float


class GroupReader:
    """Reads ``streams`` as ``consumer`` in ``group`` and hands each entry to ``on_entry``."""

    def __init__(
        self,
        redis: Redis,
        *,
        streams: Sequence[str],
        group: str,
        consumer: str,
        on_entry: EntryHandler,
        options: ReaderOptions | None = None,
        every_round: Callable[[], Awaitable[None]] | None = None,
        on_entries: EntriesHandler | None = None,
    ) -> None:
        if on_entries is not None and options is not None and options.poll_ms is not None:
            raise ValueError("on_entries hands a read over at once; poll_ms one entry at a time")
        self.redis = redis
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.on_entry = on_entry
        self.on_entries = on_entries
        self.options = options or ReaderOptions()
        self.every_round = every_round
        self.stop = asyncio.Event()
        self._last_claim = 0.0
        self._taken_over = False  # (sole_owner) what predecessors left pending
        self._queues: dict[str, deque[_Queued]] = {stream: deque() for stream in self.streams}
        self._done: dict[str, list[bytes]] = {stream: [] for stream in self.streams}
        self._last_read = 0.0
        self._between = False
        # Per stream, the fields of the entries its owner is handling (more than one when an
        # entry is handed over between the parts of another of the same stream).
        self._in_hand: dict[str, list[Fields]] = {stream: [] for stream in self.streams}
        self._overtakes: Overtakes | None = None
        self._overtake_bytes = 0

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set; a Redis error pauses a second, then the group is made
        again if it is gone."""
        self.stop = stop
        groups_ready = False
        while not stop.is_set():
            try:
                if not groups_ready:
                    await self.ensure_groups()
                    groups_ready = True
                if self.options.sole_owner and not self._taken_over:
                    await self._take_over_afresh()
                    self._taken_over = True
                if time.monotonic() - self._last_claim >= self.options.claim_idle_ms / 2000:
                    self._last_claim = time.monotonic()
                    await self.reclaim()
                if self.every_round is not None:
                    await self.every_round()
                if self.options.poll_ms is None:
                    handled = await self.read_once()
                    if self.options.gather_ms and handled < self.options.batch:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), self.options.gather_ms / 1000)
                else:
                    await self.step()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                groups_ready = False
                log.warning("stream_read_error", group=self.group, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
            except Exception:
                # A defect met on some entry must not end the loop silently (the process would
                # look alive and read nothing more): said, and the loop goes on; the entry stays
                # pending and is retried, then dead-lettered after its deliveries.
                log.exception("stream_loop_error", group=self.group)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
        if self.options.poll_ms is not None:
            await self._finish_queued()

    async def read_new(self) -> Any:
        """One XREADGROUP of new entries (its raw reply; None when nothing came)."""
        with self._read_lost_takes_over():
            return await self.redis.xreadgroup(
                self.group,
                self.consumer,
                dict.fromkeys(self.streams, ">"),
                count=self.options.batch,
                block=self.options.block_ms,
            )

    async def read_once(self) -> int:
        """One XREADGROUP of new entries; how many were handed over."""
        reply = await self.read_new()
        handled = 0
        for raw_stream, entries in reply or []:
            handled += await self._hand_over(_text(raw_stream), entries, reclaimed=False)
        return handled

    def allow_overtaking(self, overtakes: Overtakes, max_bytes: int) -> None:
        """(``poll_ms``) Let a queued entry of at most ``max_bytes`` go before the entries
        queued ahead of it in its own stream when ``overtakes`` says nothing whose order
        matters is in both; streams are then all read again every ``poll_ms``, not only the
        idle ones. A small entry arriving on a stream with a backlog (a burst of large
        entries) then waits for the entry being handled, not for the backlog."""
        self._overtakes = overtakes
        self._overtake_bytes = max_bytes

    async def step(self) -> int:
        """Hand over the next queued entry (``poll_ms``), reading first when every queue is
        empty (blocking) or when an idle stream (any stream, with ``allow_overtaking``) is
        due a look (not blocking); how many entries were handed over (0 or 1)."""
        queues = self._queues
        if not any(queues.values()):
            await self._read(self.streams, block=self.options.block_ms)
        else:
            await self._read_when_due()
        picked = self._pick()
        if picked is None:
            return 0
        await self._hand_over_queued(*picked)
        return 1

    async def hand_over_between(self, busy: str, max_bytes: int) -> int:
        """For an owner handling a large entry of ``busy`` in parts (``poll_ms``), between
        two parts: read the idle streams when due (not blocking), then hand over, smallest
        first, the queued entries of the other streams of at most ``max_bytes``; how many.

        An entry of another shard then waits for one part of the large entry, not for all of
        it. ``busy``'s own entries wait for the one in hand (order within a stream is kept),
        unless ``allow_overtaking`` lets one go before it and everything queued ahead of it;
        an entry handed over here that asks again gets nothing (no nesting). The large entry
        is acknowledged as before, once its owner answered."""
        if self._between or self.options.poll_ms is None or self._stopping():
            return 0
        self._between = True
        try:
            await self._read_when_due()
            handed = 0
            while (picked := self._pick_small(busy, max_bytes)) is not None:
                await self._hand_over_queued(*picked)
                handed += 1
            return handed
        finally:
            self._between = False

    async def _read_when_due(self) -> None:
        """Read the idle streams (with ``allow_overtaking``, every stream with less than a
        read's worth queued) without blocking, at most every ``poll_ms``."""
        assert self.options.poll_ms is not None
        if time.monotonic() - self._last_read < self.options.poll_ms / 1000:
            return
        if self._overtakes is not None:  # a stream's queue is kept to one read's worth
            short = [s for s, queue in self._queues.items() if len(queue) < self.options.batch]
            if short:
                await self._read(short, block=None)
            return
        idle = [stream for stream, queue in self._queues.items() if not queue]
        if idle:
            await self._read(idle, block=None)

    def _pick_small(self, busy: str, max_bytes: int) -> tuple[str, _Queued] | None:
        heads = [
            (stream, queue[0])
            for stream, queue in self._queues.items()
            if queue and stream != busy and queue[0].size <= max_bytes
        ]
        smallest = min((head[1].size for head in heads), default=max_bytes + 1)
        overtaking = self._overtaking(busy, below=smallest)
        if overtaking is not None:
            return overtaking
        if not heads:
            return None
        chosen = min(heads, key=lambda head: head[1].size)
        self._queues[chosen[0]].popleft()
        return chosen

    def _overtaking(self, busy: str | None, below: int) -> tuple[str, _Queued] | None:
        """The smallest queued entry, past its stream's head, smaller than ``below`` and
        than ``allow_overtaking``'s limit, that may go before the entries ahead of it (taken
        off its queue); None if there is none. In ``busy`` (whose entry is being handled in
        parts) the head may go too, and an entry must also be apart from the one in hand."""
        overtakes = self._overtakes
        if overtakes is None:
            return None
        best: tuple[str, int, _Queued] | None = None
        limit = min(below, self._overtake_bytes + 1)
        for stream, queue in self._queues.items():
            in_hand = self._in_hand[stream] if stream == busy else []
            first = 0 if in_hand else 1
            for index in range(first, min(len(queue), OVERTAKE_SCAN)):
                queued = queue[index]
                if queued.size >= limit:
                    continue
                ahead = [*in_hand, *(queue[i].fields for i in range(index))]
                if overtakes(queued.fields, ahead):
                    best, limit = (stream, index, queued), queued.size
        if best is None:
            return None
        stream, index, queued = best
        del self._queues[stream][index]
        return stream, queued

    async def _hand_over_queued(self, stream: str, queued: _Queued) -> None:
        """Hand one queued entry over; it is acknowledged with the next read if it may be."""
        entry = RawEntry(stream, queued.entry_id, queued.fields, reclaimed=False)
        in_hand = self._in_hand[stream]
        in_hand.append(queued.fields)
        try:
            answer = await self.on_entry(entry)
        finally:
            in_hand.pop()
        if answer:
            self._done[stream].append(queued.entry_id)

    async def _read(self, streams: list[str], block: int | None) -> None:
        """Acknowledge what was handled, then read new entries into the queues, in one round
        trip."""
        self._last_read = time.monotonic()
        done = {stream: ids for stream, ids in self._done.items() if ids}
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, ids in done.items():
                pipe.xack(stream, self.group, *ids)
            pipe.xreadgroup(
                self.group,
                self.consumer,
                dict.fromkeys(streams, ">"),
                count=self.options.batch,
                block=block,
            )
            with self._read_lost_takes_over():
                replies = await pipe.execute()
        for ids in done.values():
            ids.clear()
        now = time.monotonic()
        for raw_stream, entries in replies[-1] or []:
            queue = self._queues[_text(raw_stream)]
            for entry_id, fields in entries:
                size = sum(len(value) for value in fields.values())
                queue.append(_Queued(entry_id, fields, size, now))

    def _pick(self) -> tuple[str, _Queued] | None:
        """The smallest head of the queues (or a smaller entry allowed to overtake its
        stream's head), or the oldest head when it waited ``max_queued_ms``."""
        heads = [(stream, queue[0]) for stream, queue in self._queues.items() if queue]
        if not heads:
            return None
        oldest = min(heads, key=lambda head: head[1].since)
        if time.monotonic() - oldest[1].since >= self.options.max_queued_ms / 1000:
            chosen = oldest
        else:
            chosen = min(heads, key=lambda head: head[1].size)
            overtaking = self._overtaking(None, below=chosen[1].size)
            if overtaking is not None:
                return overtaking
        self._queues[chosen[0]].popleft()
        return chosen

    async def _finish_queued(self) -> None:
        """On stop: hand over what is queued (``finish_batch_on_stop``, else it stays pending
        for the next process), then acknowledge what was handled."""
        if self.options.finish_batch_on_stop:
            while (picked := self._pick()) is not None:
                await self._hand_over_queued(*picked)
        for queue in self._queues.values():
            queue.clear()
        try:
            for stream, ids in self._done.items():
                if ids:
                    await self.redis.xack(stream, self.group, *ids)
                ids.clear()
        except (RedisError, OSError) as exc:  # left pending: redelivered, never lost
            log.warning("stream_ack_failed", group=self.group, error=str(exc))

    @contextlib.contextmanager
    def _read_lost_takes_over(self) -> Iterator[None]:
        """(``sole_owner``) A read that failed may have been done by Redis, its answer lost
        (Redis killed, the connection cut): its entries are then pending for this consumer,
        unseen. They are taken over before anything newer is read (``run``), as at start,
        rather than reclaimed once idle, after newer entries of their series."""
        try:
            yield
        except (RedisError, OSError):
            if self.options.sole_owner:
                self._taken_over = False
            raise

    async def _take_over_afresh(self) -> None:
        """Take over what is pending (at start, and after a read was lost), in order: what
        was handled is acknowledged first, and what was queued unhanded is handed over again
        in its place."""
        for stream, ids in self._done.items():
            if ids:
                await self.redis.xack(stream, self.group, *ids)
                ids.clear()
        for queue in self._queues.values():
            queue.clear()
        await self.take_over()

    async def take_over(self) -> int:
        """(``sole_owner``, at start) Take every entry pending in the group's streams, whoever
        holds it, in order, and hand it over; how many.

        Their delivery counts are kept (XCLAIM ... RETRYCOUNT): the holder died (a ``kill -9``
        before it acknowledged what it had handled), which is no failure of the entries'. A
        process killed again and again would otherwise see its entries dead-lettered after
        ``max_deliveries`` lives, though each was handled every time."""
        total = 0
        for stream in self.streams:
            start = "-"
            while not self._stopping():
                rows = await self.redis.xpending_range(
                    stream, self.group, min=start, max="+", count=self.options.batch
                )
                if not rows:
                    break
                by_count: dict[int, list[bytes]] = {}
                for row in rows:
                    by_count.setdefault(int(row["times_delivered"]), []).append(row["message_id"])
                entries: list[tuple[bytes, Fields]] = []
                for count, ids in by_count.items():
                    entries += await self.redis.xclaim(
                        stream, self.group, self.consumer, 0, ids, retrycount=count
                    )
                claimed = {entry_id for entry_id, fields in entries if fields is not None}
                # Trimmed away while pending (no longer in the stream): nobody can process them.
                gone = [row["message_id"] for row in rows if row["message_id"] not in claimed]
                if gone:
                    await self.redis.xack(stream, self.group, *gone)
                live = sorted(
                    ((entry_id, fields) for entry_id, fields in entries if fields is not None),
                    key=lambda entry: _id_order(entry[0]),
                )
                await self._hand_over(stream, live, reclaimed=True)
                total += len(rows)
                start = "(" + _text(rows[-1]["message_id"])
        if total:
            log.info("entries_taken_over", group=self.group, count=total)
        return total

    async def reclaim(self) -> int:
        """Take over entries idle in any consumer's pending list; how many were taken."""
        total = 0
        for stream in self.streams:
            start: Any = "0-0"
            while not self._stopping():
                reply = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self.options.claim_idle_ms,
                    start_id=start,
                    count=self.options.batch,
                )
                start, entries = reply[0], reply[1]
                trimmed = [entry_id for entry_id, fields in entries if fields is None]
                if trimmed:  # trimmed away while pending: nobody can process them any more
                    await self.redis.xack(stream, self.group, *trimmed)
                live = [(entry_id, fields) for entry_id, fields in entries if fields is not None]
                await self._hand_over(stream, live, reclaimed=True)
                total += len(entries)
                if _text(start) == "0-0" or not entries:
                    break
        if total:
            log.info("entries_reclaimed", group=self.group, count=total)
        return total

    async def _hand_over(
        self, stream: str, entries: Sequence[tuple[bytes, Fields]], *, reclaimed: bool
    ) -> int:
        if self.on_entries is not None:
            if not entries or self._stopping():
                return 0
            batch = [RawEntry(stream, entry_id, fields, reclaimed) for entry_id, fields in entries]
            acknowledged = list(await self.on_entries(stream, batch))
            if acknowledged:
                await self.redis.xack(stream, self.group, *acknowledged)
            return len(batch)
        done: list[bytes] = []
        handled = 0
        for entry_id, fields in entries:
            if self._stopping():
                break
            if await self.on_entry(RawEntry(stream, entry_id, fields, reclaimed)):
                done.append(entry_id)
            handled += 1
        if done:
            await self.redis.xack(stream, self.group, *done)
        return handled

    def _stopping(self) -> bool:
        return self.stop.is_set() and not self.options.finish_batch_on_stop


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_order(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = _text(entry_id).partition("-")
    return int(ms), int(seq)


class Loop(Protocol):
    """Anything that runs until told to stop: a reader's owner, a scheduler."""

    async def run(self, stop: asyncio.Event) -> None: ...


@asynccontextmanager
async def running(loops: Sequence[Loop], grace_s: float = 10.0) -> AsyncIterator[None]:
    """Run ``loops`` in the background; on exit tell them to stop and give each ``grace_s`` to
    finish what it holds (what it read and did not finish stays pending for the next process),
    then cancel what is left."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(loop.run(stop), name=f"loop:{type(loop).__name__}") for loop in loops
    ]
    try:
        yield
    finally:
        stop.set()
        _done, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
