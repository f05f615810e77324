"""Query parameters shared by the list and export routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query
from pydantic import AfterValidator

from services.history.core.cursors import (
    AUDIT_CURSOR_PATTERN,
    CursorError,
    read_audit_cursor,
    read_incident_cursor,
)
from services.history.store.reader import AuditFilter, IncidentFilter
from shared.events import RemediationStatus, Severity, UtcDatetime
from shared.incidents import (
    INCIDENT_CURSOR_MAX,
    INCIDENT_CURSOR_PATTERN,
    IncidentKind,
    IncidentStatus,
)
from shared.query_window import NOT_BEFORE_SINCE, refuse_inverted_window


def _incident_cursor(value: str | None) -> str | None:
    if value is not None:
        try:
            read_incident_cursor(value)
        except CursorError as exc:
            raise ValueError(str(exc)) from None
    return value


def _audit_cursor(value: str | None) -> str | None:
    if value is not None:
        try:
            read_audit_cursor(value)
        except CursorError as exc:
            raise ValueError(str(exc)) from None
    return value


IncidentCursor = Annotated[
    str | None,
    Query(
        max_length=INCIDENT_CURSOR_MAX,
        # Refused by the validator, saying why; the document states the pattern.
        json_schema_extra={"pattern": INCIDENT_CURSOR_PATTERN},
        description="next_cursor of the previous page.",
    ),
    AfterValidator(_incident_cursor),
]
AuditCursor = Annotated[
    str | None,
    Query(
        max_length=18,
        json_schema_extra={"pattern": AUDIT_CURSOR_PATTERN},
        description="next_cursor of the previous page.",
    ),
    AfterValidator(_audit_cursor),
]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
# No control characters (a NUL cannot be bound as PostgreSQL text: it failed the query).
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[str | None, Query(min_length=1, max_length=256, pattern=NO_CONTROL)]


def incident_filter(
    resource_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=256,
            pattern=NO_CONTROL,
            description="The resource; a trailing * matches every id starting so.",
            examples=["web-1"],
        ),
    ] = None,
    severity: Annotated[
        list[Severity] | None,
        Query(description="Peak severity; repeat for several.", examples=[["critical"]]),
    ] = None,
    status: Annotated[
        IncidentStatus | None,
        Query(
            description="open: an anomaly still firing or a manual request still waiting or "
            "running; resolved: back to normal; closed: a manual request that ended."
        ),
    ] = None,
    kind: Annotated[
        IncidentKind | None,
        Query(description="anomaly (an episode of a series) or manual (a request by a person)."),
    ] = None,
    since: Annotated[
        UtcDatetime | None,
        Query(description="Opened at or after.", examples=["2026-12-01T00:00:00Z"]),
    ] = None,
    until: Annotated[
        UtcDatetime | None, Query(description=f"Opened before. {NOT_BEFORE_SINCE}")
    ] = None,
    rule: Name = None,
    action: Name = None,
    outcome: Annotated[
        RemediationStatus | None,
        Query(description="The last remediation status (the action's outcome)."),
    ] = None,
) -> IncidentFilter:
    refuse_inverted_window(since, until)
    return IncidentFilter(
        resource_id=resource_id,
        severities=[s.value for s in severity or []],
        status=status.value if status else None,
        kind=kind.value if kind else None,
        since=since,
        until=until,
        rule=rule,
        action=action,
        outcome=outcome.value if outcome else None,
    )


def audit_filter(
    status: RemediationStatus | None = None,
    action: Name = None,
    resource_id: Name = None,
    rule: Name = None,
    anomaly_id: Annotated[
        uuid.UUID | None,
        Query(description="Any spelling of the anomaly's UUID (upper case, without hyphens)."),
    ] = None,
    blocked_by: Name = None,
    since: UtcDatetime | None = None,
    until: Annotated[UtcDatetime | None, Query(description=NOT_BEFORE_SINCE)] = None,
) -> AuditFilter:
    refuse_inverted_window(since, until)
    return AuditFilter(
        status=status.value if status else None,
        action=action,
        resource_id=resource_id,
        rule=rule,
        anomaly_id=str(anomaly_id) if anomaly_id is not None else None,
        blocked_by=blocked_by,
        since=since,
        until=until,
    )


IncidentQuery = Annotated[IncidentFilter, Depends(incident_filter)]
AuditQuery = Annotated[AuditFilter, Depends(audit_filter)]
