"""Work sent to the workers as Celery tasks by name: anomalies (e.g. synthetic ones), polls of
running commands, re-checks of debounced rules, execution requests (manual or approved), and
checks of the metric after an action (post-action verification)."""

from __future__ import annotations

from typing import Protocol

from celery import Celery

from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores.dispatched import ANOMALY_TASK_PREFIX
from shared.events import AnomalyEvent
from shared.tasks import EXECUTE_REQUEST, HANDLE_ANOMALY, POLL_COMMAND, RECHECK_ANOMALY

# Sent and run by the remediator alone (its API's anomaly consumer and its workers).
VERIFY_ACTION = "remediator.verify_action"


class Scheduler(Protocol):
    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool) -> None: ...

    def poll(self, run_id: str, delay_s: float) -> None: ...

    def recheck(self, anomaly: AnomalyEvent, rule: str, delay_s: float) -> None: ...

    def execute(self, request: ActionRequest) -> None: ...

    def verify(self, run_id: str, delay_s: float, *, follow: bool) -> None:
        """A check of the metric after run ``run_id``; ``follow``: it schedules the next."""
        ...


class CeleryScheduler:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool) -> None:
        # Without dry run, the arguments the dispatcher sends (the sweep sends its stalled
        # anomalies again through here).
        kwargs: dict[str, object] = {"event": anomaly.model_dump(mode="json")}
        if dry_run:
            kwargs["dry_run"] = True
        self.celery.send_task(
            HANDLE_ANOMALY,
            kwargs=kwargs,
            task_id=f"{ANOMALY_TASK_PREFIX}{anomaly.event_id}",
            kwargsrepr=f"{{'event': 'anomaly {anomaly.event_id}', 'dry_run': {dry_run}}}",
        )

    def poll(self, run_id: str, delay_s: float) -> None:
        self.celery.send_task(POLL_COMMAND, kwargs={"run_id": run_id}, countdown=delay_s)

    def recheck(self, anomaly: AnomalyEvent, rule: str, delay_s: float) -> None:
        self.celery.send_task(
            RECHECK_ANOMALY,
            kwargs={"event": anomaly.model_dump(mode="json"), "rule": rule},
            countdown=delay_s,
            task_id=f"recheck-{anomaly.event_id}-{rule}",
            kwargsrepr=f"{{'event': 'anomaly {anomaly.event_id}', 'rule': {rule!r}}}",
        )

    def execute(self, request: ActionRequest) -> None:
        self.celery.send_task(
            EXECUTE_REQUEST,
            kwargs={"request": request.model_dump(mode="json")},
            task_id=f"execute-{request.run_id}",
            kwargsrepr=f"{{'request': 'run {request.run_id}'}}",  # not the whole request
        )

    def verify(self, run_id: str, delay_s: float, *, follow: bool) -> None:
        self.celery.send_task(
            VERIFY_ACTION, kwargs={"run_id": run_id, "follow": follow}, countdown=delay_s
        )
