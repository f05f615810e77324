"""The history's intake: every event of the anomalies, remediations and notifications streams
(through the shared consumer loop, a batch per transaction), and the detector's feedback log
(entries that are not events, read with a consumer group of their own). At least once: an entry
is acknowledged only after its transaction committed, and writing it twice changes nothing (see
``store.writer``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from services.history import metrics
from services.history.core.steps import feedback_steps
from services.history.store.writer import HistoryWriter
from shared import metrics as shared_metrics
from shared.bus import ConsumerOptions, StreamConsumer, StreamEntry
from shared.events import (
    AnomalyEvent,
    AnomalyResolved,
    Event,
    EventDecodeError,
    Notification,
    RemediationRecord,
    decode_event,
    utcnow,
)
from shared.stream_group import Fields, GroupReader, RawEntry, ReaderOptions
from shared.streams import PREFIX

log = structlog.get_logger("history.consumer")

GROUP_HISTORY = "history"
# Written by the detector's feedback endpoint: plain fields, not an event.
FEEDBACK_STREAM = f"{PREFIX}:{{feedback}}"
KINDS: dict[type, str] = {
    AnomalyEvent: "anomaly",
    AnomalyResolved: "resolution",
    RemediationRecord: "record",
    Notification: "notification",
}


Read = tuple[str, bytes, Fields]  # stream, entry id, fields


class BatchConsumer(StreamConsumer):
    """The shared stream consumer, writing everything one read returned in one
    transaction (one commit, each incident's summary worked out once) before acknowledging
    them. A batch that fails is handled again entry by entry through the shared path, as are
    entries taken over from a dead consumer, so one event that cannot be written is retried
    and dead-lettered on its own, never holding the others back."""

    def __init__(
        self,
        redis: Redis,
        *,
        writer: HistoryWriter,
        streams: Sequence[str],
        consumer: str,
        options: ConsumerOptions,
    ) -> None:
        super().__init__(
            redis,
            streams=streams,
            group=GROUP_HISTORY,
            consumer=consumer,
            handler=Recorder(writer),
            options=options,
        )
        self.writer = writer
        loop = self.reader
        self.reader = BatchReader(
            redis,
            streams=loop.streams,
            group=loop.group,
            consumer=loop.consumer,
            on_entry=loop.on_entry,
            options=loop.options,
            every_round=loop.every_round,
            write=self.write_batch,
        )

    async def write_batch(self, entries: Sequence[Read]) -> list[Read]:
        """Write what ``entries`` hold in one transaction; the entries that may be
        acknowledged."""
        events: list[tuple[Read, Fields, Event]] = []
        done: list[Read] = []
        for stream, entry_id, fields in entries:
            try:
                event = decode_event(_text(fields.get(b"type")), fields.get(b"data", b""))
            except EventDecodeError:  # the shared path dead-letters it
                if await self._process(stream, entry_id, fields, 1):
                    done.append((stream, entry_id, fields))
                continue
            events.append(((stream, entry_id, fields), fields, event))
        try:
            started = time.perf_counter()
            await self.writer.record_many([event for _, _, event in events])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # written one by one below; each failure is its own
            log.warning("history_batch_failed", size=len(events), error=str(exc))
            for read, fields, _event in events:
                if await self._process(read[0], read[1], fields, 1):
                    done.append(read)
        else:
            _count([(r[0], e) for r, _, e in events], time.perf_counter() - started, self.group)
            done += [read for read, _, _ in events]
        return done


class BatchReader(GroupReader):
    """The shared consumer-group loop, handing everything one read returned over at once
    (entries taken over from another consumer go one by one, counting deliveries)."""

    def __init__(
        self,
        redis: Redis,
        *,
        write: Callable[[Sequence[Read]], Awaitable[list[Read]]],
        **loop: Any,
    ) -> None:
        super().__init__(redis, **loop)
        self.write = write

    async def read_once(self) -> int:
        reply = await self.read_new()
        read = [
            (_text(stream), entry_id, fields)
            for stream, entries in reply or []
            for entry_id, fields in entries
        ]
        if not read:
            return 0
        done: dict[str, list[bytes]] = {}
        for stream, entry_id, _fields in await self.write(read):
            done.setdefault(stream, []).append(entry_id)
        for stream, ids in done.items():
            await self.redis.xack(stream, self.group, *ids)
        return len(read)


def _count(events: list[tuple[str, Event]], seconds: float, group: str) -> None:
    if events:
        metrics.WRITE_SECONDS.observe(seconds / len(events))
    now = utcnow()
    for stream, event in events:
        family = stream.split("{", 1)[-1].split("}", 1)[0].split(":", 1)[0]
        metrics.RECORDED.labels(kind=KINDS.get(type(event), "other")).inc()
        shared_metrics.EVENTS_CONSUMED.labels(stream=family, group=group).inc()
        age = (now - event.occurred_at).total_seconds()
        shared_metrics.EVENT_AGE.labels(stream=family, group=group).observe(age)


class Recorder:
    """The handler of one event (entries reclaimed from a dead consumer, and the entries of
    a batch that failed): one event, one transaction."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer

    async def __call__(self, entry: StreamEntry) -> None:
        started = time.perf_counter()
        if await self.writer.record(entry.event):
            metrics.WRITE_SECONDS.observe(time.perf_counter() - started)
            metrics.RECORDED.labels(kind=KINDS.get(type(entry.event), "other")).inc()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


class FeedbackReader:
    """Copies the detector's feedback log into the incidents' timelines (the shared
    consumer-group loop; an entry that cannot be written stays pending and is retried)."""

    def __init__(
        self,
        redis: Redis,
        writer: HistoryWriter,
        *,
        consumer: str,
        options: ConsumerOptions,
        stream: str = FEEDBACK_STREAM,
    ) -> None:
        self.writer = writer
        self.reader = GroupReader(
            redis,
            streams=[stream],
            group=GROUP_HISTORY,
            consumer=consumer,
            on_entry=self._on_entry,
            options=ReaderOptions(
                batch=options.batch,
                block_ms=options.block_ms,
                claim_idle_ms=options.claim_idle_ms,
            ),
        )

    async def ensure_group(self) -> None:
        await self.reader.ensure_groups()

    async def run(self, stop: asyncio.Event) -> None:
        await self.reader.run(stop)

    async def _on_entry(self, entry: RawEntry) -> bool:
        entry_id = _text(entry.entry_id)
        try:
            anomaly_id = uuid.UUID(_text(entry.fields.get(b"anomaly_id")))
        except ValueError:
            log.warning("feedback_unreadable", entry_id=entry_id)
            return True
        steps = feedback_steps(
            entry_id,
            anomaly_id,
            _text(entry.fields.get(b"verdict")),
            _text(entry.fields.get(b"by")),
            _text(entry.fields.get(b"note")),
            _entry_time(entry_id),
        )
        try:
            await self.writer.record_steps(steps)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("feedback_not_written", entry_id=entry_id, error=str(exc))
            return False
        metrics.RECORDED.labels(kind="feedback").inc()
        return True
