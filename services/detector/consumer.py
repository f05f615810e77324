"""The detector's stream handler: score a metric batch (a large one in parts), publish what
changed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from services.detector.detection_engine import DetectionEngine
from services.detector.metrics import (
    ANOMALIES_DETECTED,
    PREDICTIONS,
    SAMPLES_FROM_THE_FUTURE,
    SCORING_SECONDS,
)
from services.detector.model_manager import ModelManager
from shared.bus import BatchEntry, EventBus, StreamEntry
from shared.events import AnomalyEvent, Event, utcnow
from shared.metric_batches import ColumnBatch
from shared.metrics import PIPELINE_LATENCY
from shared.streams import ANOMALIES, PREFIX

log = structlog.get_logger("detector.consumer")
ANOMALY_TTL_S = 7 * 24 * 3600


def anomaly_key(anomaly_id: str) -> str:
    """Where the detector keeps what it needs to apply feedback on an anomaly it raised."""
    return f"{PREFIX}:{{detector}}:anomaly:{anomaly_id}"


# Samples scored between two returns to the event loop (about a millisecond of scoring): a
# large entry is scored in parts, so anything else due (a small entry of another shard, an
# API request, a checkpoint slice) waits for one part, not for the whole entry.
PART_SAMPLES = 100
BetweenParts = Callable[[str], Awaitable[None]]


async def _yield_to_the_loop(_stream: str) -> None:
    await asyncio.sleep(0)


class MetricBatchHandler:
    """Scores metric batches read as columns (``StreamConsumer(batch_handler=...)``); any
    other event on a metric stream is logged and acknowledged (``unexpected``).

    An entry larger than ``part_samples`` is scored part by part, in order; between parts the
    handler awaits ``between_parts(stream)`` (by default it only lets the loop run; the
    detector hands small entries of its other shards over there). A part's events are
    published as soon as it is scored. The entry is acknowledged only when this call returns,
    after every part was scored and every event published: a crash midway redelivers it, and
    the samples already learned are skipped as not newer than their series' last.

    Since a redelivered sample is skipped, the events of a part are kept from the moment it is
    scored until they are written (``unsent``). A write that fails (Redis lost at that moment)
    leaves them there, in order, and the entry is held like any other: they are written first
    at the next entry's, and a checkpoint writes them before it takes any series
    (``write_unsent``), failing while it cannot. So no saved state has learned a sample whose
    event is not on the stream, and the entry is acknowledged only after such a checkpoint: a
    ``kill -9`` meanwhile replays it from older state, and its events are raised again."""

    def __init__(
        self,
        engine: DetectionEngine,
        bus: EventBus,
        redis: Redis,
        models: ModelManager,
        part_samples: int = PART_SAMPLES,
        between_parts: BetweenParts = _yield_to_the_loop,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.redis = redis
        self.models = models
        self.part_samples = part_samples
        self.between_parts = between_parts
        self.unsent: list[Event] = []  # scored, not yet known to be on the stream, in order
        self._writing = asyncio.Lock()

    async def unexpected(self, entry: StreamEntry) -> None:
        log.warning("unexpected_event", type=entry.event.TYPE)

    async def __call__(self, entry: BatchEntry) -> None:
        parts = entry.batch.parts(self.part_samples)
        for index, part in enumerate(parts):
            if index:
                await self.between_parts(entry.stream)
            events = self._score(part)
            if events:
                self.unsent += events  # before any await: a checkpoint sees them owed
            if self.unsent:
                try:
                    await self.write_unsent()
                except (RedisError, OSError) as exc:
                    log.warning("events_not_written", unsent=len(self.unsent), error=str(exc))

    async def write_unsent(self) -> None:
        """Write the events scored and not yet on the stream (a write that failed, or one on
        its way: this waits for it); raises when they cannot be written now."""
        if not self.unsent:
            return
        async with self._writing:
            events = list(self.unsent)
            if not events:
                return
            try:
                await self._publish(events)
            except (RedisError, OSError):
                raise  # kept: written once Redis answers
            except Exception:
                del self.unsent[: len(events)]  # never writable: not held against the others
                raise
            del self.unsent[: len(events)]

    def _score(self, batch: ColumnBatch) -> list[Event]:
        dropped_before = self.engine.dropped_from_the_future
        started = time.perf_counter()
        events: list[Event] = self.engine.process_columns(batch)
        events += self.models.observe(batch)
        SCORING_SECONDS.observe(time.perf_counter() - started)
        PREDICTIONS.inc(len(batch))
        dropped = self.engine.dropped_from_the_future - dropped_before
        if dropped:
            SAMPLES_FROM_THE_FUTURE.inc(dropped)
        return events

    async def _publish(self, events: list[Event]) -> None:
        # Published before the entry is acknowledged: a crash here republishes, and the
        # anomaly's id (derived from the sample) lets every reader deduplicate.
        # What feedback on an anomaly needs is stored before the anomaly is written, in the
        # same round trip: whoever reads the event can give feedback on it at once.
        anomalies = [e for e in events if isinstance(e, AnomalyEvent)]

        def summaries(pipe: Pipeline) -> None:
            for anomaly in anomalies:
                pipe.set(anomaly_key(str(anomaly.event_id)), _summary(anomaly), ex=ANOMALY_TTL_S)

        await self.bus.publish_many(((ANOMALIES, e) for e in events), first=summaries)
        published = utcnow()
        for event in events:
            if isinstance(event, AnomalyEvent):
                ANOMALIES_DETECTED.labels(severity=event.severity.value).inc()
                PIPELINE_LATENCY.labels(stage="anomaly").observe(
                    max((published - event.observed_at).total_seconds(), 0.0)
                )
                log.info(
                    "anomaly_detected",
                    anomaly_id=str(event.event_id),
                    resource_id=event.resource_id,
                    metric=event.metric,
                    severity=event.severity.value,
                    score=round(event.score, 4),
                    detectors=event.detectors,
                )
            else:
                log.info("anomaly_resolved", type=event.TYPE)


def _summary(anomaly: AnomalyEvent) -> str:
    return json.dumps(
        {
            "resource_id": anomaly.resource_id,
            "metric": anomaly.metric,
            "value": anomaly.value,
            "expected_low": anomaly.expected_low,
            "expected_high": anomaly.expected_high,
            "severity": anomaly.severity.value,
            "score": anomaly.score,
            "observed_at": anomaly.observed_at.isoformat(),
        }
    )
