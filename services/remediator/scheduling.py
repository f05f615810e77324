"""Work sent to the workers as Celery tasks by name: anomalies (e.g. synthetic ones), polls of
running commands, re-checks of debounced rules, and execution requests (manual or approved)."""

from __future__ import annotations

from typing import Protocol

from celery import Celery

from services.remediator.requests import ActionRequest
from shared.events import AnomalyEvent
from shared.tasks import EXECUTE_REQUEST, HANDLE_ANOMALY, POLL_COMMAND, RECHECK_ANOMALY


class Scheduler(Protocol):
    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool) -> None: ...

    def poll(self, run_id: str, delay_s: float) -> None: ...

    def recheck(self, anomaly: AnomalyEvent, rule: str, delay_s: float) -> None: ...

    def execute(self, request: ActionRequest) -> None: ...


class CeleryScheduler:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool) -> None:
        self.celery.send_task(
            HANDLE_ANOMALY,
            kwargs={"event": anomaly.model_dump(mode="json"), "dry_run": dry_run},
            task_id=f"anomaly-{anomaly.event_id}",
        )

    def poll(self, run_id: str, delay_s: float) -> None:
        self.celery.send_task(POLL_COMMAND, kwargs={"run_id": run_id}, countdown=delay_s)

    def recheck(self, anomaly: AnomalyEvent, rule: str, delay_s: float) -> None:
        self.celery.send_task(
            RECHECK_ANOMALY,
            kwargs={"event": anomaly.model_dump(mode="json"), "rule": rule},
            countdown=delay_s,
            task_id=f"recheck-{anomaly.event_id}-{rule}",
        )

    def execute(self, request: ActionRequest) -> None:
        self.celery.send_task(
            EXECUTE_REQUEST,
            kwargs={"request": request.model_dump(mode="json")},
            task_id=f"execute-{request.run_id}",
        )
