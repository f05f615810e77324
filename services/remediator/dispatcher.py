"""Turns anomaly events into Celery tasks (the entry is acknowledged once the task is queued).
A read's anomalies go to the broker together, in one round trip (kombu's publish batch, a
pipeline of LPUSHes); their entries are acknowledged only after it returned, so a crash before
leaves them pending and redelivered, and a redelivered anomaly's task carries the same id and
finds its claim taken (effectively once). When sending them together fails, each is sent on
its own with Celery's retries; those that still fail stay pending.

Before they go to the broker, the anomalies are noted as sent (:mod:`.stores.dispatched`, one
transaction per read), so that the sweep sends again those whose decision is not recorded
within ``SCOPS_REDISPATCH_STALLED_S``: tasks reserved by a worker killed whole would otherwise
wait out the broker's visibility timeout.

When the detector says an anomaly is resolved, it ends the series' debounce streaks, notes the
resolution for post-action verification and has every verification watching the series
checked at once.

Only the detector's resolution does that: it read the series back to normal. A resolution
with another ``source`` (an Alertmanager alert posted to the gateway, which anyone holding an
ingest key can send) ends nothing and verifies nothing; it is noted for its own alert only
(:func:`~.verification.watch.note_alert_resolution`), where it can make a verification without
a metric "unverified" instead of "not improved", never "verified". So is the detector's
resolution of a series that went silent (``reason`` ``no_data``): it says nothing about the
metric.

A resolution is handled once: the detector publishes the same resolution again, with the same
id, when it replays its samples (a restart from a checkpoint older than its last publish), and
the stream hands an entry over again after a consumer died. Handled again, the resolution of
an episode that ended before would end the streak of the episode open now and verify the
action taken on it (noted now, "after" that action). It is remembered for
``RESOLUTION_HANDLED_TTL_S`` once everything it does is done."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import structlog
from celery import Celery
from kombu.messaging import Producer
from redis.asyncio import Redis

from services.remediator.handling.scheduling import VERIFY_ACTION
from services.remediator.handling.verification import note_alert_resolution, note_resolution
from services.remediator.stores import redis_keys
from services.remediator.stores.dispatched import ANOMALY_TASK_PREFIX, note_sent
from shared.bus import StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved
from shared.tasks import HANDLE_ANOMALY

LOGGER = "remediator.dispatcher"
log = structlog.get_logger(LOGGER)
RESOLUTION_HANDLED_TTL_S = 7 * 24 * 3600  # longer than any replay or redelivery


class AnomalyDispatcher:
    def __init__(self, celery: Celery, redis: Redis | None = None) -> None:
        self.celery = celery
        self.redis = redis

    async def __call__(self, entry: StreamEntry) -> None:
        """One entry on its own; raises when it could not be handled."""
        event = entry.event
        if isinstance(event, AnomalyResolved):
            await self._resolved(event)
        elif isinstance(event, AnomalyEvent):
            await self._note([event])
            await asyncio.to_thread(self._send_one, event)
            _log_queued([event])

    async def dispatch(self, entries: Sequence[StreamEntry]) -> list[str]:
        """A read's entries in their order: the anomalies' tasks queued together, a resolution
        handled where it stands (the anomalies before it queued first); the ids of the entries
        that could not be handled (to leave pending)."""
        failed: list[str] = []
        anomalies: list[StreamEntry] = []
        for entry in entries:
            if isinstance(entry.event, AnomalyEvent):
                anomalies.append(entry)
            elif isinstance(entry.event, AnomalyResolved):
                failed += await self._queue(anomalies)
                anomalies = []
                try:
                    await self._resolved(entry.event)
                except Exception as exc:  # left pending: redelivered, then dead-lettered
                    log.exception("resolution_failed", entry_id=entry.entry_id, error=str(exc))
                    failed.append(entry.entry_id)
        failed += await self._queue(anomalies)
        return failed

    async def _queue(self, entries: Sequence[StreamEntry]) -> list[str]:
        """Queue the anomalies' tasks; the ids of the entries whose task is not queued."""
        if not entries:
            return []
        events = [entry.event for entry in entries if isinstance(entry.event, AnomalyEvent)]
        try:
            await self._note(events)
        except Exception as exc:  # nothing sent: left pending, redelivered
            log.warning("remediation_tasks_not_noted", count=len(events), error=str(exc))
            return [entry.entry_id for entry in entries]
        try:
            await asyncio.to_thread(self._send_together, events)
        except Exception as exc:  # some may be queued already: their redelivery is harmless
            log.warning("remediation_tasks_not_queued_together", count=len(events), error=str(exc))
            return await self._queue_one_by_one(entries)
        _log_queued(events)
        return []

    async def _queue_one_by_one(self, entries: Sequence[StreamEntry]) -> list[str]:
        failed: list[str] = []
        for entry in entries:
            assert isinstance(entry.event, AnomalyEvent)
            try:
                await asyncio.to_thread(self._send_one, entry.event)
            except Exception as exc:
                log.warning("remediation_task_not_queued", entry_id=entry.entry_id, error=str(exc))
                failed.append(entry.entry_id)
            else:
                _log_queued([entry.event])
        return failed

    async def _note(self, events: Sequence[AnomalyEvent]) -> None:
        """Notes the anomalies as sent now, before they are (the sweep sends again those whose
        decision never comes)."""
        if self.redis is None or not events:
            return
        await note_sent(self.redis, events, int(time.time() * 1000))

    def _send_together(self, events: Sequence[AnomalyEvent]) -> None:
        """Publish in one pipeline; returns once Redis has them all (raises otherwise)."""
        with (
            self.celery.producer_or_acquire() as producer,
            producer.batch(max_size=max(len(events), 1)),
        ):
            for event in events:
                # Buffered, not sent: nothing to retry until the batch is flushed (its failure
                # falls back to sending one by one, with retries).
                self._send_one(event, producer, retry=False)

    def _send_one(
        self, event: AnomalyEvent, producer: Producer | None = None, *, retry: bool = True
    ) -> None:
        self.celery.send_task(
            HANDLE_ANOMALY,
            kwargs={"event": event.model_dump(mode="json")},
            task_id=f"{ANOMALY_TASK_PREFIX}{event.event_id}",
            # Celery would otherwise format the arguments for the message's headers (for
            # monitors): the whole event, a third of what sending costs.
            argsrepr="()",
            kwargsrepr=f"{{'event': 'anomaly {event.event_id}'}}",
            producer=producer,
            retry=retry,
            # The queue needs no declaring: the task goes straight to its Redis list (the
            # default exchange), which the workers declared and read.
            declare=[],
        )

    async def _resolved(self, event: AnomalyResolved) -> None:
        if self.redis is None:
            return
        handled = redis_keys.resolution_handled(event.event_id)
        if await self.redis.exists(handled):
            log.info("resolution_already_handled", anomaly_id=str(event.anomaly_id))
            return
        await self._handle_resolution(self.redis, event)
        await self.redis.set(handled, b"1", ex=RESOLUTION_HANDLED_TTL_S)

    async def _handle_resolution(self, redis: Redis, event: AnomalyResolved) -> None:
        if not event.recovery_measured:
            # Not the metric's word that it recovered: an alert's source said so, or the
            # series went silent (the instance may be gone). What watches the alert may end
            # "unverified", never "verified".
            await note_alert_resolution(redis, str(event.anomaly_id))
            log.info(
                "alert_resolution_noted",
                anomaly_id=str(event.anomaly_id),
                source=event.source[:32],
                reason=event.reason,
            )
            return
        # An anomaly of the series observed after this resolution's end belongs to a later
        # episode: this resolution (handed over late, after a consumer died) is not news about
        # it, and must neither end its streak nor verify the action taken on it.
        latest = await redis.zscore(redis_keys.recent(event.resource_id), event.metric)
        if latest is not None and latest > event.resolved_at.timestamp() * 1000:
            log.info("resolution_of_an_earlier_episode", anomaly_id=str(event.anomaly_id))
            return
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(redis_keys.debounce(event.resource_id, event.metric))
            pipe.zrem(redis_keys.recent(event.resource_id), event.metric)
            await pipe.execute()
        watchers = await note_resolution(redis, event.resource_id, event.metric)
        for run_id in watchers:
            await asyncio.to_thread(
                self.celery.send_task,
                VERIFY_ACTION,
                kwargs={"run_id": run_id, "follow": False},
            )
        log.info("anomaly_resolved", anomaly_id=str(event.anomaly_id), verifying=len(watchers))


def _log_queued(events: Sequence[AnomalyEvent]) -> None:
    """One line per queued task (skipped whole when INFO is off: building a line costs more
    than sending it)."""
    if not logging.getLogger(LOGGER).isEnabledFor(logging.INFO):
        return
    for event in events:
        log.info(
            "remediation_task_queued",
            anomaly_id=str(event.event_id),
            correlation_id=event.correlation_id,
            event_id=str(event.event_id),
        )
