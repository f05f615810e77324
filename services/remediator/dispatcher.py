"""Turns anomaly events into Celery tasks (the entry is acknowledged once the task is queued).
When the detector says an anomaly is resolved, it ends the series' debounce streaks, notes the
resolution for post-action verification and has every verification watching the series
checked at once.

Only the detector's resolution does that: it read the series back to normal. A resolution
with another ``source`` (an Alertmanager alert posted to the gateway, which anyone holding an
ingest key can send) ends nothing and verifies nothing; it is noted for its own alert only
(:func:`~.verification.watch.note_alert_resolution`), where it can make a verification without
a metric "unverified" instead of "not improved", never "verified"."""

from __future__ import annotations

import asyncio

import structlog
from celery import Celery
from redis.asyncio import Redis

from services.remediator.handling.scheduling import VERIFY_ACTION
from services.remediator.handling.verification import note_alert_resolution, note_resolution
from services.remediator.stores import redis_keys
from shared.bus import StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved
from shared.tasks import HANDLE_ANOMALY

log = structlog.get_logger("remediator.dispatcher")
DETECTOR = "detector"  # the only source whose resolution is the metric's word


class AnomalyDispatcher:
    def __init__(self, celery: Celery, redis: Redis | None = None) -> None:
        self.celery = celery
        self.redis = redis

    async def __call__(self, entry: StreamEntry) -> None:
        event = entry.event
        if isinstance(event, AnomalyResolved):
            await self._resolved(event)
            return
        if not isinstance(event, AnomalyEvent):
            return
        await asyncio.to_thread(
            self.celery.send_task,
            HANDLE_ANOMALY,
            kwargs={"event": event.model_dump(mode="json")},
            task_id=f"anomaly-{event.event_id}",
            # Celery would otherwise format the whole event for the message's header (for
            # monitors), a third of what sending costs.
            kwargsrepr=f"{{'event': 'anomaly {event.event_id}'}}",
        )
        log.info("remediation_task_queued", anomaly_id=str(event.event_id))

    async def _resolved(self, event: AnomalyResolved) -> None:
        if self.redis is None:
            return
        if event.source != DETECTOR:
            await note_alert_resolution(self.redis, str(event.anomaly_id))
            log.info(
                "alert_resolution_noted",
                anomaly_id=str(event.anomaly_id),
                source=event.source[:32],
            )
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(redis_keys.debounce(event.resource_id, event.metric))
            pipe.zrem(redis_keys.recent(event.resource_id), event.metric)
            await pipe.execute()
        watchers = await note_resolution(self.redis, event.resource_id, event.metric)
        for run_id in watchers:
            await asyncio.to_thread(
                self.celery.send_task,
                VERIFY_ACTION,
                kwargs={"run_id": run_id, "follow": False},
            )
        log.info("anomaly_resolved", anomaly_id=str(event.anomaly_id), verifying=len(watchers))
