"""Between table rows and the contract's models."""

from __future__ import annotations

import uuid
from typing import Any

from services.history.store.models import IncidentRow, StepRow
from shared.incidents import IncidentSummary, TimelineEntry, TimelineKind


def step_values(key: str, incident_id: uuid.UUID, entry: TimelineEntry) -> dict[str, Any]:
    return {
        "key": key,
        "incident_id": str(incident_id),
        "at": entry.at,
        "kind": entry.kind.value,
        "actor": entry.actor[:256],
        "summary": entry.summary,
        "status": entry.status,
        "event_id": entry.event_id,
        "detail": entry.detail,
    }


STEP_COLUMNS = (
    StepRow.at,
    StepRow.kind,
    StepRow.actor,
    StepRow.summary,
    StepRow.status,
    StepRow.event_id,
    StepRow.detail,
)


def entry_of(row: Any) -> TimelineEntry:
    """A step from a ``StepRow`` or a row of ``STEP_COLUMNS``."""
    return TimelineEntry(
        at=row.at,
        kind=TimelineKind(row.kind),
        actor=row.actor,
        summary=row.summary,
        status=row.status,
        event_id=row.event_id,
        detail=row.detail,
    )


def incident_values(summary: IncidentSummary) -> dict[str, Any]:
    values = summary.model_dump(mode="python")
    values["id"] = str(summary.id)
    values["severity"] = summary.severity.value
    values["status"] = summary.status.value
    values["kind"] = summary.kind.value
    values["resource_id"] = summary.resource_id[:256]
    values["metric"] = summary.metric[:128]
    return values


def summary_of(row: IncidentRow) -> IncidentSummary:
    return IncidentSummary(
        id=uuid.UUID(row.id),
        kind=row.kind,
        resource_id=row.resource_id,
        metric=row.metric,
        severity=row.severity,
        status=row.status,
        opened_at=row.opened_at,
        detected_at=row.detected_at,
        resolved_at=row.resolved_at,
        last_event_at=row.last_event_at,
        explanation=row.explanation,
        rule=row.rule,
        action=row.action,
        action_outcome=row.action_outcome,
        labels=row.labels,
        events=row.events,
    )
