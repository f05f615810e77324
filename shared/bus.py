"""The event bus on Redis Streams: at-least-once delivery with consumer groups.

Publishing writes one stream entry per event (``type``, ``v``, ``data``), pipelined for batches,
with an approximate length cap. Consuming reads with a consumer group, runs the handler, and
acknowledges only after the handler returned, so an entry whose effect is not done stays pending.
Pending entries idle longer than ``claim_idle_ms`` (their consumer died, or the handler failed)
are reclaimed with XAUTOCLAIM; an entry delivered more than ``max_deliveries`` times, or one that
cannot be parsed, goes to the stream's dead-letter stream with the reason and is acknowledged.

The reading loop itself (groups, XREADGROUP, paced XAUTOCLAIM) is ``shared.stream_group``'s,
the one every consumer in the system runs.

Note: ``MAXLEN ~`` trims entries whether or not a group has read them; size the cap for the
largest backlog you accept.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import metrics
from shared.deferred_acks import DeferredAcks
from shared.events import Event, EventDecodeError, decode_event, utcnow
from shared.metric_batches import ColumnBatch, decode_columns
from shared.settings import BaseServiceSettings
from shared.stream_group import GroupReader, RawEntry, ReaderOptions
from shared.stream_group import running as run_in_background
from shared.streams import dead_letter, dead_letter_record

log = structlog.get_logger("shared.bus")

Fields = dict[bytes, bytes]
EncodedFields = dict[str, bytes | str]
STATS_INTERVAL_S = 5.0


def encode_event(event: Event) -> dict[str, str]:
    return {"type": event.TYPE, "v": event.schema_version, "data": event.model_dump_json()}


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream: str
    entry_id: str
    event: Event
    deliveries: int = 1


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """A metric batch entry, decoded into columns (``shared.metric_batches``)."""

    stream: str
    entry_id: str
    batch: ColumnBatch
    deliveries: int = 1


Handler = Callable[[StreamEntry], Awaitable[None]]
# A read's events at once; answers the entry ids it could not handle (left pending).
EventsHandler = Callable[[Sequence[StreamEntry]], Awaitable[Collection[str]]]
BatchHandler = Callable[[BatchEntry], Awaitable[None]]


class EventBus:
    """Publishes events to streams, capped at about ``maxlen`` entries each."""

    def __init__(self, redis: Redis, maxlen: int) -> None:
        self.redis = redis
        self.maxlen = maxlen

    async def publish(self, stream: str, event: Event) -> str:
        entry_id = await self.redis.xadd(
            stream,
            encode_event(event),
            maxlen=self.maxlen,
            approximate=True,
        )
        metrics.EVENTS_PUBLISHED.labels(stream=_stream_family(stream)).inc()
        return _text(entry_id)

    async def publish_many(
        self,
        items: Iterable[tuple[str, Event]],
        first: Callable[[Pipeline], object] | None = None,
    ) -> list[str]:
        """Publish in one round trip (pipelined, not transactional: streams may sit in
        different cluster slots). ``first`` queues commands of the caller's to run before the
        entries are written, in the same round trip (what a reader of an event expects to find
        already there); their replies are not returned, their errors are raised."""
        items = list(items)
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            if first is not None:
                first(pipe)
            before = len(pipe.command_stack)
            for stream, event in items:
                pipe.xadd(
                    stream,
                    encode_event(event),
                    maxlen=self.maxlen,
                    approximate=True,
                )
            ids = (await pipe.execute())[before:]
        for stream, _ in items:
            metrics.EVENTS_PUBLISHED.labels(stream=_stream_family(stream)).inc()
        return [_text(i) for i in ids]

    async def publish_fields(self, items: Sequence[tuple[str, EncodedFields]]) -> list[str]:
        """Like ``publish_many`` for entries already encoded (``shared.metric_batches``)."""
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, fields in items:
                pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
            ids = await pipe.execute()
        families = Counter(_stream_family(stream) for stream, _ in items)
        for family, count in families.items():
            metrics.EVENTS_PUBLISHED.labels(stream=family).inc(count)
        return [_text(i) for i in ids]


@dataclass(frozen=True)
class ConsumerOptions:
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    dead_letter_maxlen: int = 100_000
    # Entries one at a time, smallest first, idle streams read again this often (see
    # shared.stream_group): for a consumer whose entries wait on latency.
    poll_ms: float | None = None
    # After a read that did not fill a batch, wait this long before the next (entries that
    # may wait, such as records being counted, are then handled many at a time).
    gather_ms: float = 0.0
    # The only consumer of its streams in the group (see ``ReaderOptions.sole_owner``).
    sole_owner: bool = False


class StreamConsumer:
    """Reads ``streams`` as ``consumer`` in ``group`` and hands each event to ``handler``."""

    def __init__(
        self,
        redis: Redis,
        *,
        streams: Sequence[str],
        group: str,
        consumer: str,
        handler: Handler,
        options: ConsumerOptions | None = None,
        batch_handler: BatchHandler | None = None,
        events_handler: EventsHandler | None = None,
        deferred: DeferredAcks | None = None,
    ) -> None:
        if events_handler is not None and deferred is not None:
            raise ValueError("entries handled at once are acknowledged at once")
        if batch_handler is not None and events_handler is not None:
            raise ValueError("a consumer takes metric batches or events at once, not both")
        self.redis = redis
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.handler = handler
        # Metric batches go here as columns, when given (the detector), never as models.
        self.batch_handler = batch_handler
        # A read's events at once, in order, when given (one step for many: the remediator
        # queues their tasks in one round trip). What it could not handle, or all when it
        # raises, is not acknowledged (redelivered, like a failing handler's entry).
        self.events_handler = events_handler
        # When given, an entry handled is held there instead of acknowledged: its owner
        # acknowledges it once its effect is durable (the detector: once a checkpoint covers
        # it). Dead-lettered entries are acknowledged at once.
        self.deferred = deferred
        self.options = options or ConsumerOptions()
        self._last_stats = 0.0
        self.reader = GroupReader(
            redis,
            streams=self.streams,
            group=group,
            consumer=consumer,
            on_entry=self._on_entry,
            options=ReaderOptions(
                batch=self.options.batch,
                block_ms=self.options.block_ms,
                claim_idle_ms=self.options.claim_idle_ms,
                poll_ms=self.options.poll_ms,
                gather_ms=self.options.gather_ms,
                sole_owner=self.options.sole_owner,
            ),
            every_round=self._stats_when_due,
            on_entries=self._on_entries if events_handler is not None else None,
        )

    async def ensure_groups(self) -> None:
        await self.reader.ensure_groups()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; what was read is finished and acknowledged first."""
        log.info("consumer_started", group=self.group, consumer=self.consumer)
        await self.reader.run(stop)
        log.info("consumer_stopped", group=self.group, consumer=self.consumer)

    async def read_once(self) -> int:
        """One XREADGROUP of new entries; returns how many were handled."""
        return await self.reader.read_once()

    async def reclaim(self) -> int:
        """Take over entries idle in any consumer's pending list (XAUTOCLAIM)."""
        return await self.reader.reclaim()

    async def _on_entry(self, entry: RawEntry) -> bool:
        deliveries = 1
        if entry.reclaimed:
            deferred = self.deferred
            if deferred is not None and deferred.holds(entry.stream, _text(entry.entry_id)):
                return False  # handled already, idle while its acknowledgement waits
            deliveries = await self._deliveries(entry.stream, entry.entry_id)
            family = _stream_family(entry.stream)
            metrics.EVENTS_RECLAIMED.labels(stream=family, group=self.group).inc()
        return await self._process(entry.stream, entry.entry_id, entry.fields, deliveries)

    async def _stats_when_due(self) -> None:
        if time.monotonic() - self._last_stats >= STATS_INTERVAL_S:
            self._last_stats = time.monotonic()
            await self.export_stats()

    async def export_stats(self) -> None:
        """Lag, pending and length of this group's streams, summed over shards, as gauges."""
        lag = pending = length = dead = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in self.streams:
                pipe.xinfo_groups(stream)
                pipe.xlen(stream)
                pipe.xlen(dead_letter(stream))
            replies = await pipe.execute(raise_on_error=False)
        for groups, size, dead_size in zip(replies[::3], replies[1::3], replies[2::3], strict=True):
            if isinstance(groups, Exception):
                continue
            for group in groups:
                if _text(group["name"]) == self.group:
                    lag += int(group.get("lag") or 0)
                    pending += int(group.get("pending") or 0)
            length += int(size) if not isinstance(size, Exception) else 0
            dead += int(dead_size) if not isinstance(dead_size, Exception) else 0
        family = _stream_family(self.streams[0]) if self.streams else "none"
        metrics.STREAM_LAG.labels(stream=family, group=self.group).set(lag)
        metrics.STREAM_PENDING.labels(stream=family, group=self.group).set(pending)
        metrics.STREAM_LENGTH.labels(stream=family).set(length)
        metrics.DEAD_LETTER_LENGTH.labels(stream=family).set(dead)

    async def _deliveries(self, stream: str, entry_id: bytes) -> int:
        rows = await self.redis.xpending_range(
            stream, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 1

    async def _process(self, stream: str, entry_id: bytes, fields: Fields, deliveries: int) -> bool:
        """Handle one entry; True when it may be acknowledged."""
        eid = _text(entry_id)
        event = await self._decoded(stream, eid, fields, deliveries)
        if event is None:
            return True
        structlog.contextvars.bind_contextvars(
            correlation_id=event.correlation_id, event_id=str(event.event_id)
        )
        try:
            if isinstance(event, ColumnBatch):
                assert self.batch_handler is not None
                await self.batch_handler(BatchEntry(stream, eid, event, deliveries))
            else:
                await self.handler(StreamEntry(stream, eid, event, deliveries))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.HANDLER_FAILURES.labels(stream=_stream_family(stream), group=self.group).inc()
            log.exception("handler_failed", stream=stream, entry_id=eid, error=str(exc))
            return False
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id", "event_id")
        self._consumed(stream, [event])
        if self.deferred is not None:
            self.deferred.hold(stream, eid)
            return False
        return True

    async def _on_entries(self, stream: str, entries: Sequence[RawEntry]) -> list[bytes]:
        """A read's entries to ``events_handler`` at once; the ids that may be acknowledged:
        those dead-lettered, and the others once the handler returned."""
        assert self.events_handler is not None
        acknowledged: list[bytes] = []
        handed: list[bytes] = []
        batch: list[StreamEntry] = []
        for entry in entries:
            deliveries = 1
            if entry.reclaimed:
                deliveries = await self._deliveries(entry.stream, entry.entry_id)
                family = _stream_family(entry.stream)
                metrics.EVENTS_RECLAIMED.labels(stream=family, group=self.group).inc()
            eid = _text(entry.entry_id)
            event = await self._decoded(stream, eid, entry.fields, deliveries)
            if event is None:
                acknowledged.append(entry.entry_id)
            elif isinstance(event, Event):
                handed.append(entry.entry_id)
                batch.append(StreamEntry(stream, eid, event, deliveries))
        if not batch:
            return acknowledged
        family = _stream_family(stream)
        try:
            failed = set(await self.events_handler(batch))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception(
                "handler_failed",
                stream=stream,
                entry_id=batch[0].entry_id,
                entries=len(batch),
                error=str(exc),
            )
            failed = {entry.entry_id for entry in batch}
        if failed:
            metrics.HANDLER_FAILURES.labels(stream=family, group=self.group).inc(len(failed))
        self._consumed(stream, [entry.event for entry in batch if entry.entry_id not in failed])
        return acknowledged + [
            raw for raw, entry in zip(handed, batch, strict=True) if entry.entry_id not in failed
        ]

    async def _decoded(
        self, stream: str, eid: str, fields: Fields, deliveries: int
    ) -> Event | ColumnBatch | None:
        """The entry's event, or None once it went to the dead-letter stream."""
        try:
            kind = _text(fields.get(b"type", b""))  # bytes anyone with XADD wrote: maybe not UTF-8
            if self.batch_handler is not None and kind == ColumnBatch.TYPE:
                event: Event | ColumnBatch = decode_columns(fields.get(b"data", b""))
            else:
                event = decode_event(kind, fields.get(b"data", b""))
        except (EventDecodeError, UnicodeDecodeError) as exc:
            await self._dead_letter(stream, eid, fields, f"unreadable: {exc}"[:2000])
            return None
        if deliveries > self.options.max_deliveries:
            await self._dead_letter(stream, eid, fields, f"failed {deliveries - 1} deliveries")
            return None
        return event

    def _consumed(self, stream: str, events: Sequence[Event | ColumnBatch]) -> None:
        if not events:
            return
        family = _stream_family(stream)
        now = utcnow()
        ages = metrics.EVENT_AGE.labels(stream=family, group=self.group)
        for event in events:
            ages.observe((now - event.occurred_at).total_seconds())
        metrics.EVENTS_CONSUMED.labels(stream=family, group=self.group).inc(len(events))

    async def _dead_letter(self, stream: str, entry_id: str, fields: Fields, reason: str) -> None:
        await self.redis.xadd(
            dead_letter(stream),
            dead_letter_record(fields, reason, entry_id, self.group),
            maxlen=self.options.dead_letter_maxlen,
            approximate=True,
        )
        metrics.EVENTS_DEAD_LETTERED.labels(stream=_stream_family(stream), group=self.group).inc()
        log.error("event_dead_lettered", stream=stream, entry_id=entry_id, reason=reason)


def _stream_family(stream: str) -> str:
    """``scops:{metrics:3}`` -> ``metrics``: keeps label cardinality independent of shards."""
    inner = stream.split("{", 1)[-1].split("}", 1)[0]
    return inner.split(":", 1)[0]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def consumer_options(settings: BaseServiceSettings) -> ConsumerOptions:
    return ConsumerOptions(
        batch=settings.consumer_batch,
        block_ms=settings.consumer_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        max_deliveries=settings.max_deliveries,
    )


def consumer_name(service: str) -> str:
    """Unique per process, readable in XINFO CONSUMERS."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


@asynccontextmanager
async def running(consumers: Sequence[StreamConsumer], grace: float = 10.0) -> AsyncIterator[None]:
    """Run consumers in the background; on exit let each finish what it read, then stop."""
    async with run_in_background(consumers, grace):
        yield
