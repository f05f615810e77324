"""Recent anomalies, and Prometheus Alertmanager's webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from services.gateway.alertmanager import AlertmanagerPayload, UnmappableAlertError, to_events
from services.gateway.anomaly_index import AnomalyIndex, valid_cursor
from services.gateway.anomaly_index import Query as IndexQuery
from services.gateway.auth import Ingest, Viewer
from services.gateway.deps import BusDep, CorrelationIdDep
from shared.events import AnomalyEvent, Severity
from shared.streams import ANOMALIES
from shared.web import problem_responses

log = structlog.get_logger("gateway.anomalies")
router = APIRouter()


class AnomalyPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Anomaly events, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


def _index(request: Request) -> AnomalyIndex:
    index: AnomalyIndex = request.app.state.anomaly_index
    return index


@router.get(
    "/anomalies",
    summary="Recent anomalies",
    tags=["anomalies"],
    responses=problem_responses(401, 403, 422),
)
async def list_anomalies(
    request: Request,
    _: Viewer,
    resource_id: str | None = None,
    severity: Annotated[Severity, Query(description="The lowest severity listed.")] = (
        Severity.NORMAL
    ),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page.")
    ] = None,
) -> AnomalyPage:
    if cursor is not None and not valid_cursor(cursor):
        raise HTTPException(422, "cursor: not a cursor returned by this endpoint")
    query = IndexQuery(
        resource_id=resource_id,
        min_severity=severity,
        since=since.timestamp() if since else float("-inf"),
        until=until.timestamp() if until else float("inf"),
        limit=limit,
        cursor=cursor,
    )
    items, next_cursor = await _index(request).query(query)
    return AnomalyPage(items=items, next_cursor=next_cursor)


@router.get(
    "/anomalies/{anomaly_id}",
    summary="One anomaly, with its resolution",
    tags=["anomalies"],
    responses=problem_responses(401, 403, 404),
)
async def get_anomaly(anomaly_id: str, request: Request, _: Viewer) -> dict[str, Any]:
    item = await _index(request).get(anomaly_id)
    if item is None:
        raise HTTPException(404, f"no anomaly {anomaly_id} in the last days")
    return item


class AlertsAccepted(BaseModel):
    firing: int
    resolved: int
    anomaly_ids: list[str]


@router.post(
    "/v1/alerts/alertmanager",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Prometheus Alertmanager webhook receiver (payload version 4)",
    tags=["alerts"],
    responses=problem_responses(400, 401, 403, 413, 422, 429),
)
async def alertmanager(
    body: AlertmanagerPayload, _: Ingest, bus: BusDep, correlation_id: CorrelationIdDep
) -> AlertsAccepted:
    """Firing alerts become anomaly events (severity from the `severity` label, resource from
    `resource_id`, `instance`, `pod`, `host`, `node` or `job`); resolved alerts resolve them.
    Point Alertmanager here with `http_config.authorization.credentials` set to an ingest key."""
    try:
        events = to_events(body, correlation_id)
    except UnmappableAlertError as exc:
        raise HTTPException(422, f"alerts: {exc}") from exc
    await bus.publish_many((ANOMALIES, e) for e in events)
    firing = [e for e in events if isinstance(e, AnomalyEvent)]
    log.info("alerts_accepted", firing=len(firing), resolved=len(events) - len(firing))
    return AlertsAccepted(
        firing=len(firing),
        resolved=len(events) - len(firing),
        anomaly_ids=[str(e.event_id) for e in firing],
    )
