"""The history's intake: every event of the anomalies, remediations and notifications streams
(through the shared consumer loop), and the detector's feedback log (entries that are not
events, read with a consumer group of their own). At least once: an entry is acknowledged only
after its transaction committed, and writing it twice changes nothing (see ``store.writer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from services.history import metrics
from services.history.core.steps import feedback_steps
from services.history.store.writer import HistoryWriter
from shared.bus import ConsumerOptions, StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved, Notification, RemediationRecord
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


class Recorder:
    """The handler of the event streams: one event, one transaction."""

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
    """Copies the detector's feedback log into the incidents' timelines."""

    def __init__(
        self,
        redis: Redis,
        writer: HistoryWriter,
        *,
        consumer: str,
        options: ConsumerOptions,
        stream: str = FEEDBACK_STREAM,
    ) -> None:
        self.redis = redis
        self.writer = writer
        self.consumer = consumer
        self.options = options
        self.stream = stream

    async def ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(self.stream, GROUP_HISTORY, id="0", mkstream=True)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        last_claim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_claim >= self.options.claim_idle_ms / 2000:
                    last_claim = time.monotonic()
                    await self.reclaim()
                await self.read_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, SQLAlchemyError) as exc:
                log.warning("feedback_read_failed", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def read_once(self) -> int:
        reply = await self.redis.xreadgroup(
            GROUP_HISTORY,
            self.consumer,
            {self.stream: ">"},
            count=self.options.batch,
            block=self.options.block_ms,
        )
        handled = 0
        for _stream, entries in reply or []:
            await self._handle(entries)
            handled += len(entries)
        return handled

    async def reclaim(self) -> None:
        reply = await self.redis.xautoclaim(
            self.stream,
            GROUP_HISTORY,
            self.consumer,
            min_idle_time=self.options.claim_idle_ms,
            start_id="0-0",
            count=self.options.batch,
        )
        await self._handle([e for e in reply[1] if e[1] is not None])

    async def _handle(self, entries: list[tuple[Any, dict[bytes, bytes]]]) -> None:
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            try:
                anomaly_id = uuid.UUID(_text(fields.get(b"anomaly_id")))
            except ValueError:
                log.warning("feedback_unreadable", entry_id=entry_id)
            else:
                steps = feedback_steps(
                    entry_id,
                    anomaly_id,
                    _text(fields.get(b"verdict")),
                    _text(fields.get(b"by")),
                    _text(fields.get(b"note")),
                    _entry_time(entry_id),
                )
                await self.writer.record_steps(steps)
                metrics.RECORDED.labels(kind="feedback").inc()
            await self.redis.xack(self.stream, GROUP_HISTORY, raw_id)
