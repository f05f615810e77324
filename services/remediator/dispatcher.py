"""Turns anomaly events into Celery tasks (the entry is acknowledged once the task is queued)."""

from __future__ import annotations

import asyncio

import structlog
from celery import Celery

from shared.bus import StreamEntry
from shared.events import AnomalyEvent
from shared.tasks import HANDLE_ANOMALY

log = structlog.get_logger("remediator.dispatcher")


class AnomalyDispatcher:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    async def __call__(self, entry: StreamEntry) -> None:
        anomaly = entry.event
        if not isinstance(anomaly, AnomalyEvent):
            return
        await asyncio.to_thread(
            self.celery.send_task,
            HANDLE_ANOMALY,
            kwargs={"event": anomaly.model_dump(mode="json")},
            task_id=f"anomaly-{anomaly.event_id}",
        )
        log.info("remediation_task_queued", anomaly_id=str(anomaly.event_id))
