"""Recent anomalies, and Prometheus Alertmanager's webhook."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from services.gateway.alertmanager import (
    AlertmanagerPayload,
    AlertsAccepted,
    accepted,
    read_alerts,
)
from services.gateway.anomaly_index import ANOMALY_CURSOR_PATTERN, AnomalyIndex, valid_cursor
from services.gateway.anomaly_index import Query as IndexQuery
from services.gateway.auth import Ingest, Viewer
from services.gateway.deps import BusDep, CorrelationIdDep, SettingsDep, gateway
from services.gateway.metrics import ALERTS_SKIPPED
from shared.events import Severity, UtcDatetime, utcnow
from shared.query_window import NOT_BEFORE_SINCE, refuse_inverted_window
from shared.streams import ANOMALIES
from shared.web import problem_responses

log = structlog.get_logger("gateway.anomalies")
router = APIRouter()


class AnomalyPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Anomaly events, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


def _refused(loc: tuple[str, ...], reason: str) -> RequestValidationError:
    """A 422 problem naming the field, like every other refused field (``errors[]``)."""
    return RequestValidationError([{"loc": loc, "msg": reason, "type": "value_error"}])


def _index(request: Request) -> AnomalyIndex:
    index: AnomalyIndex = gateway(request).anomaly_index
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
    since: Annotated[UtcDatetime | None, Query(description="UTC when it has no zone.")] = None,
    until: Annotated[
        UtcDatetime | None, Query(description=f"UTC when it has no zone. {NOT_BEFORE_SINCE}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            # Refused below, saying why; the document states the pattern.
            json_schema_extra={"pattern": ANOMALY_CURSOR_PATTERN},
            description="`next_cursor` of the previous page.",
        ),
    ] = None,
) -> AnomalyPage:
    if cursor is not None and not valid_cursor(cursor):
        raise _refused(("query", "cursor"), "not a `next_cursor` returned by this endpoint")
    refuse_inverted_window(since, until)
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


@router.post(
    "/v1/alerts/alertmanager",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Prometheus Alertmanager webhook receiver (payload version 4)",
    tags=["alerts"],
    responses=problem_responses(400, 401, 403, 413, 422, 429),
)
async def alertmanager(
    body: AlertmanagerPayload,
    sender: Ingest,
    bus: BusDep,
    correlation_id: CorrelationIdDep,
    settings: SettingsDep,
) -> AlertsAccepted:
    """Firing alerts become anomaly events (severity from the `severity` label, resource from
    `resource_id`, `instance`, `pod`, `host`, `node` or `job`); resolved alerts resolve them.
    Point Alertmanager here with `http_config.authorization.credentials` set to an ingest key.
    The key's owner is recorded as the alerts' sender (`sent_by`): they never approve an
    action these alerts lead to.
    An alert with invalid labels, no resource or a time too far from the gateway's clock is
    skipped (listed in `skipped`, with why) and the others accepted; 422 if none is."""
    batch = read_alerts(body, correlation_id, settings.time_bounds, utcnow(), sent_by=sender.sender)
    ALERTS_SKIPPED.inc(len(batch.skipped))
    if not batch.events:
        errors = [
            {"loc": ("body", "alerts", s.index), "msg": s.reason, "type": "value_error"}
            for s in batch.skipped
        ]
        empty = {"loc": ("body", "alerts"), "msg": "no alert in the payload", "type": "value_error"}
        raise RequestValidationError(errors or [empty])
    await bus.publish_many((ANOMALIES, e) for e in batch.events)
    reply = accepted(batch)
    log.info(
        "alerts_accepted", firing=reply.firing, resolved=reply.resolved, skipped=len(batch.skipped)
    )
    return reply
