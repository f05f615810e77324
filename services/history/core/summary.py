"""An incident's summary, worked out from its timeline alone (no I/O).

Recomputed whole after every step is added, so the summary does not depend on the order steps
arrive in, nor on how often one is delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.events import Severity
from shared.incidents import (
    IncidentKind,
    IncidentStatus,
    IncidentSummary,
    TimelineEntry,
    TimelineKind,
)

RAISED = {TimelineKind.ANOMALY, TimelineKind.ESCALATION}
EPISODE = {TimelineKind.FIRST_OUT_OF_RANGE, *RAISED, TimelineKind.RESOLUTION}
MANUAL_METRIC = "manual"  # what the remediator names as the metric of a manual request
# A manual request is open while its action waits for a decision, an approval or its end.
WAITING = {"proposed", "pending_approval", "approved", "running"}
REMEDIATION = {
    TimelineKind.DECISION,
    TimelineKind.APPROVAL,
    TimelineKind.ACTION,
    TimelineKind.VERIFICATION,
}


def ordered(entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    """Oldest first; steps of the same moment in the order an incident unfolds."""
    rank = {kind: i for i, kind in enumerate(TimelineKind)}
    return sorted(entries, key=lambda e: (e.at, rank[e.kind], e.event_id))


def _severity(entry: TimelineEntry) -> Severity | None:
    value = entry.detail.get("severity")
    if entry.kind == TimelineKind.RESOLUTION:
        value = entry.detail.get("peak_severity")
    try:
        return Severity(value) if value is not None else None
    except ValueError:
        return None


def is_manual(steps: Sequence[TimelineEntry]) -> bool:
    """A manual request: remediation records about no anomaly (none was raised, and they
    name the remediator's manual metric and no sample)."""
    if any(e.kind in EPISODE for e in steps):
        return False
    records = [e for e in steps if e.kind in REMEDIATION]
    return bool(records) and all(
        e.detail.get("metric") == MANUAL_METRIC and "anomaly_observed_at" not in e.detail
        for e in records
    )


def _status(
    kind: IncidentKind,
    resolved: TimelineEntry | None,
    remediation: list[TimelineEntry],
    episode: bool,
) -> IncidentStatus:
    """``episode``: the anomaly was seen raised (or its series leave its range). An anomaly
    never raised (``POST /remediation/test``'s, say) has no episode to resolve: its incident
    ends with its action's story, as a person's request does."""
    if kind == IncidentKind.MANUAL or (not episode and remediation):
        waiting = remediation[-1].status in WAITING
        return IncidentStatus.OPEN if waiting else IncidentStatus.CLOSED
    return IncidentStatus.RESOLVED if resolved is not None else IncidentStatus.OPEN


def summarize(incident_id: uuid.UUID, entries: Sequence[TimelineEntry]) -> IncidentSummary:
    """The summary of a non-empty timeline."""
    if not entries:
        raise ValueError("an incident has at least one step")
    steps = ordered(entries)
    first = next((e for e in steps if e.kind == TimelineKind.FIRST_OUT_OF_RANGE), None)
    raised = next((e for e in steps if e.kind == TimelineKind.ANOMALY), None)
    resolved = next((e for e in reversed(steps) if e.kind == TimelineKind.RESOLUTION), None)
    remediation = [e for e in steps if e.kind in REMEDIATION]
    place = next((e for e in steps if "resource_id" in e.detail), steps[0])
    severities = [s for s in map(_severity, steps) if s is not None]
    last_action = next((e for e in reversed(remediation) if e.detail.get("action")), None)
    last_rule = next((e for e in reversed(remediation) if e.detail.get("rule")), None)
    labels = (raised or place).detail.get("labels") or {}
    kind = IncidentKind.MANUAL if is_manual(steps) else IncidentKind.ANOMALY
    return IncidentSummary(
        id=incident_id,
        kind=kind,
        resource_id=str(place.detail.get("resource_id", "")),
        metric=str(place.detail.get("metric", "")),
        severity=max(severities, key=lambda s: s.rank) if severities else Severity.NORMAL,
        status=_status(kind, resolved, remediation, any(e.kind in EPISODE for e in steps)),
        opened_at=(first or steps[0]).at,
        detected_at=raised.at if raised is not None else None,
        resolved_at=resolved.at if resolved is not None else None,
        last_event_at=max(e.at for e in steps),
        explanation=raised.summary if raised is not None else "",
        rule=str(last_rule.detail["rule"]) if last_rule is not None else None,
        action=str(last_action.detail["action"]) if last_action is not None else None,
        action_outcome=remediation[-1].status if remediation else None,
        labels={str(k): str(v) for k, v in labels.items()},
        events=len(steps),
    )
