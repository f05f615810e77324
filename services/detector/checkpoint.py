"""Per-series state saved to Redis, so a restarted detector resumes where it stopped.

One hash per metric shard (``scops:{detector-state:N}``), one field per series (JSON). Changed
series are saved every ``checkpoint_interval_s`` and at shutdown; on start a replica loads the
hashes of the shards it owns. Series the engine forgot (``DetectionEngine.forget_silent``) are
deleted by the next round, before any state it writes: one forgotten and seen again since is
deleted, then written afresh.

Metric entries are acknowledged only once a checkpoint covers them (``shared.deferred_acks``):
a round takes the entries scored before it began, writes every series changed before it began,
then acknowledges them. A ``kill -9`` loses no learning: the successor restores the last
checkpoint and replays what was scored after it (samples already learned are skipped as not
newer than their series' last; the anomalies raised again carry the same ids). Nor does a lost
write of an anomaly: no series is taken for a checkpoint while an event it raised is not yet
written (``before_taking``), so a sample whose anomaly never reached the stream is learned
again by the successor, which raises it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec
from redis.asyncio import Redis

from services.detector.detection_engine import DetectionEngine, SeriesKey
from shared.deferred_acks import DeferredAcks
from shared.streams import PREFIX, shard_of

SEP = "\x1f"
SLICE_S = 0.002  # the longest the event loop is held by one slice of a checkpoint
WRITE_EVERY = 200  # series per HSET round trip
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(dict[str, Any]).decode


def state_key(shard: int) -> str:
    return f"{PREFIX}:{{detector-state:{shard}}}"


class Checkpointer:
    """Saves changed series in slices of about ``slice_s`` of work, letting the event loop run
    between slices, and writes them ``write_every`` at a time.

    A series' state costs tens of microseconds or more to serialise (its memory is
    compressed), so a fixed count per slice could hold the loop for tens of milliseconds: the
    slice is sized from what the previous one cost instead. Each state is encoded as soon as it
    is taken, so only bytes wait for the write, not thousands of freshly built lists the
    garbage collector would walk. Series whose write failed are marked changed again, for the
    next round."""

    def __init__(
        self,
        redis: Redis,
        engine: DetectionEngine,
        shards: int,
        slice_s: float = SLICE_S,
        write_every: int = WRITE_EVERY,
        acks: DeferredAcks | None = None,
        before_taking: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        # Awaited before each slice of series is taken: raises when the events of what the
        # series learned are not all written (the detector's unsent anomalies).
        self.before_taking = before_taking
        self.acks = acks
        self.engine = engine
        self.shards = shards
        self.slice_s = slice_s
        self.write_every = write_every
        self.saved_series = 0
        self.deleted_series = 0  # forgotten series deleted from Redis
        self.slices = 0
        self._cost = slice_s  # seconds per series (one at first), measured at every slice

    async def save(self) -> int:
        """Save the series changed so far (as many as were marked when the round began: a
        series changed again meanwhile may wait for the next round), then acknowledge the
        entries scored before the round began; how many series were saved."""
        if self.acks is None:
            return await self._save_changed()
        async with self.acks.round():
            return await self._save_changed()

    async def _save_changed(self) -> int:
        if self.before_taking is not None:
            await self.before_taking()
        # Taken before any state of the round: a series forgotten, then seen again, is deleted
        # before its new state is written (in the same pipeline, or a later one).
        forgotten = list(self.engine.forgotten)
        self.engine.forgotten = set()
        try:
            return await self._save_taken(forgotten)
        except BaseException:
            self.engine.forgotten.update(forgotten)  # not deleted yet: the next round
            raise

    async def _save_taken(self, forgotten: list[SeriesKey]) -> int:
        # Many forgotten at once (a sweep after a large scale-in) are deleted in round trips
        # of their own first, letting the loop run between them; the rest go, before them,
        # with the round's first states.
        while len(forgotten) > self.write_every:
            await self._write({}, forgotten, self.write_every)
        saved = 0
        todo = len(self.engine.dirty)
        waiting: dict[SeriesKey, bytes] = {}
        while todo > 0 and self.engine.dirty:
            if self.before_taking is not None:
                try:
                    await self.before_taking()
                except BaseException:
                    self.engine.dirty.update(waiting)  # not saved: the next round takes them
                    raise
            # Nothing awaited from here to the encoding: each state is taken with every event
            # it raised already written.
            started = time.perf_counter()
            size = min(self._slice_size(), todo)
            dirty = self.engine.take_dirty(size)
            for key, state in dirty.items():
                waiting[key] = _ENCODE(state)
            self._cost = (time.perf_counter() - started) / size
            self.slices += 1
            todo -= size
            del dirty
            if len(waiting) >= self.write_every:
                saved += await self._write(waiting, forgotten)
                waiting = {}
            else:
                await asyncio.sleep(0)
        if waiting or forgotten:
            saved += await self._write(waiting, forgotten)
        return saved

    async def save_now(self, key: SeriesKey) -> bool:
        """One series written at once, outside the rounds: a person's feedback is answered
        "applied" only once a ``kill -9`` cannot take it back (a round is up to
        ``checkpoint_interval_s`` away). As in a round, the series is taken only once every
        event it raised is written. It stays marked changed, so the next round writes it again
        (a round that took it before the feedback may write its older state after this).
        False: the series is not in memory."""
        if self.before_taking is not None:
            await self.before_taking()
        state = self.engine.series.get(key)
        if state is None:
            return False
        await self._write({key: _ENCODE(state.to_state())}, [], 0)
        self.engine.dirty.add(key)
        return True

    def _slice_size(self) -> int:
        return max(1, min(self.write_every, int(self.slice_s / max(self._cost, 1e-7))))

    async def _write(
        self,
        states: dict[SeriesKey, bytes],
        forgotten: list[SeriesKey],
        deletions: int | None = None,
    ) -> int:
        """Delete the last ``deletions`` (default: all) of the ``forgotten`` series, then
        write ``states``, in one pipeline; the series deleted leave ``forgotten``."""
        by_shard: dict[int, dict[str, bytes]] = {}
        for (resource, metric), encoded in states.items():
            shard = shard_of(resource, self.shards)
            by_shard.setdefault(shard, {})[f"{resource}{SEP}{metric}"] = encoded
        deleted = len(forgotten) if deletions is None else min(deletions, len(forgotten))
        deleting: dict[int, list[str]] = {}
        for resource, metric in forgotten[len(forgotten) - deleted :]:
            shard = shard_of(resource, self.shards)
            deleting.setdefault(shard, []).append(f"{resource}{SEP}{metric}")
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for shard, fields in deleting.items():
                    pipe.hdel(state_key(shard), *fields)
                for shard, mapping in by_shard.items():
                    pipe.hset(state_key(shard), mapping=mapping)
                await pipe.execute()
        except BaseException:
            self.engine.dirty.update(states)  # not saved: the next round takes them again
            raise
        del forgotten[len(forgotten) - deleted :]
        self.deleted_series += deleted
        self.saved_series += len(states)
        return len(states)

    async def load(self, shards: list[int]) -> int:
        loaded = 0
        for shard in shards:
            rows: dict[bytes, bytes] = await self.redis.hgetall(state_key(shard))
            loaded += self.engine.restore(_decode(rows))
        return loaded


def _decode(rows: dict[bytes, bytes]) -> Iterator[tuple[SeriesKey, dict[str, Any]]]:
    for field, value in rows.items():
        resource, _, metric = field.decode().partition(SEP)
        try:
            state = _DECODE(value)
        except msgspec.DecodeError:
            state = {}  # unreadable: restore() counts it and starts the series afresh
        yield (resource, metric), state
