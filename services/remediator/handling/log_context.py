"""The log context of work that follows an action (polling its command, verifying it): the
tasks carry only the run id, so the incident's correlation id is bound from the run's request,
and a search of every log for it finds the action's outcome too."""

from __future__ import annotations

import structlog

from services.remediator.core.action_requests import ActionRequest


def bind_incident(request: ActionRequest) -> None:
    structlog.contextvars.bind_contextvars(
        correlation_id=request.incident.correlation_id,
        anomaly_id=str(request.incident.anomaly_id),
    )


def bind_incident_of(raw_request: str | None) -> None:
    """:func:`bind_incident` of a run's stored request (JSON); nothing when it has none or
    it cannot be read (the caller meets that itself)."""
    if not raw_request:
        return
    try:
        request = ActionRequest.model_validate_json(raw_request)
    except ValueError:
        return
    bind_incident(request)
