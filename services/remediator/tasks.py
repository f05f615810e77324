"""Celery tasks: thin edges that validate and hand over to the workflow. Within each task the
claims it acquires keep their leases alive (:func:`leases_kept_alive`) until settled or handed
over."""

from __future__ import annotations

from typing import Any

import redis
import structlog
from celery.signals import worker_process_init

from services.remediator.celery_app import app, settings
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import RulesUnreadableError
from services.remediator.handling.scheduling import VERIFY_ACTION, CeleryScheduler
from services.remediator.stores.claims import ClaimBusyError, leases_kept_alive
from services.remediator.wiring import Remediator, build
from shared.events import AnomalyEvent
from shared.tasks import EXECUTE_REQUEST, HANDLE_ANOMALY, POLL_COMMAND, RECHECK_ANOMALY

log = structlog.get_logger("remediator.tasks")
_remediator: Remediator | None = None


@worker_process_init.connect  # type: ignore[untyped-decorator]
def reset_workflow(**_: Any) -> None:
    """A prefork child builds its own clients: connections must not cross the fork."""
    global _remediator
    _remediator = None


def remediator() -> Remediator:
    global _remediator
    if _remediator is None:
        client = redis.Redis.from_url(settings.redis_url)
        _remediator = build(settings, client, CeleryScheduler(app))
    return _remediator


RULES_UNREADABLE_RETRY_S = 30.0


def _retry_later(task: Any, exc: ClaimBusyError | RulesUnreadableError) -> Exception:
    if isinstance(exc, ClaimBusyError):
        # Another attempt is at work on it; look again once its lease could have lapsed.
        log.info("claim_busy_retrying", claim=str(exc))
        countdown = min(2.0, settings.claim_lease_s)
    else:
        # Nothing decided, nothing claimed: again once this worker may have been upgraded.
        log.error("rules_unreadable_retrying", error=str(exc))
        countdown = RULES_UNREADABLE_RETRY_S
    result: Exception = task.retry(countdown=countdown, exc=exc)
    return result


@app.task(name=HANDLE_ANOMALY, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def handle_anomaly(self: Any, *, event: dict[str, Any], dry_run: bool = False) -> None:
    anomaly = AnomalyEvent.model_validate(event)
    structlog.contextvars.bind_contextvars(
        correlation_id=anomaly.correlation_id, anomaly_id=str(anomaly.event_id)
    )
    try:
        with leases_kept_alive():
            remediator().workflow.handle(anomaly, dry_run=dry_run)
    except (ClaimBusyError, RulesUnreadableError) as exc:
        raise _retry_later(self, exc) from exc
    finally:
        structlog.contextvars.clear_contextvars()


@app.task(name=RECHECK_ANOMALY, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def recheck_anomaly(self: Any, *, event: dict[str, Any], rule: str) -> None:
    anomaly = AnomalyEvent.model_validate(event)
    structlog.contextvars.bind_contextvars(
        correlation_id=anomaly.correlation_id, anomaly_id=str(anomaly.event_id)
    )
    try:
        with leases_kept_alive():
            remediator().workflow.recheck(anomaly, rule)
    except (ClaimBusyError, RulesUnreadableError) as exc:
        raise _retry_later(self, exc) from exc
    finally:
        structlog.contextvars.clear_contextvars()


@app.task(name=EXECUTE_REQUEST, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def execute_request(self: Any, *, request: dict[str, Any]) -> None:
    action_request = ActionRequest.model_validate(request)
    structlog.contextvars.bind_contextvars(
        correlation_id=action_request.incident.correlation_id,
        anomaly_id=str(action_request.incident.anomaly_id),
    )
    try:
        with leases_kept_alive():
            remediator().workflow.execute_request(action_request)
    except (ClaimBusyError, RulesUnreadableError) as exc:
        raise _retry_later(self, exc) from exc
    finally:
        structlog.contextvars.clear_contextvars()


@app.task(name=POLL_COMMAND)  # type: ignore[untyped-decorator]
def poll_command(*, run_id: str) -> None:
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        remediator().runner.poll(run_id)
    finally:
        structlog.contextvars.clear_contextvars()


@app.task(name=VERIFY_ACTION)  # type: ignore[untyped-decorator]
def verify_action(*, run_id: str, follow: bool = True) -> None:
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        with leases_kept_alive():
            remediator().verifier.check(run_id, follow=follow)
    finally:
        structlog.contextvars.clear_contextvars()
