"""Celery tasks: thin edges that validate and hand over to the workflow."""

from __future__ import annotations

from typing import Any

import redis
import structlog

from services.remediator.celery_app import app, settings
from services.remediator.workflow import LEASE_TTL_S, AnomalyWorkflow, ClaimBusyError
from shared.events import AnomalyEvent
from shared.tasks import HANDLE_ANOMALY

log = structlog.get_logger("remediator.tasks")
_workflow: AnomalyWorkflow | None = None


def reset_workflow() -> None:
    global _workflow
    _workflow = None


def workflow() -> AnomalyWorkflow:
    global _workflow
    if _workflow is None:
        client = redis.Redis.from_url(settings.redis_url)
        _workflow = AnomalyWorkflow(
            client, maxlen=settings.stream_maxlen, claim_ttl_s=settings.claim_ttl_s
        )
    return _workflow


@app.task(name=HANDLE_ANOMALY, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def handle_anomaly(self: Any, *, event: dict[str, Any]) -> None:
    anomaly = AnomalyEvent.model_validate(event)
    structlog.contextvars.bind_contextvars(
        correlation_id=anomaly.correlation_id, anomaly_id=str(anomaly.event_id)
    )
    try:
        workflow().handle(anomaly)
    except ClaimBusyError as exc:
        # Another attempt is at work on it; look again once its lease could have lapsed.
        log.info("claim_busy_retrying", anomaly_id=str(anomaly.event_id))
        raise self.retry(countdown=min(2, LEASE_TTL_S), exc=exc) from exc
    finally:
        structlog.contextvars.clear_contextvars()
