"""The durable record of incidents, as the history service answers it.

An incident is one anomaly episode of one series (its id is the id of the event that opened
the episode) and everything that followed: escalations, each remediation decision and the check
that allowed or refused it, approvals, the action and its output, its verification, every
notification, feedback and the resolution. Each step is a :class:`TimelineEntry` with its time
and actor. A manual remediation request (no anomaly behind it) is kept as an entry of kind
``manual``: open while its action waits or runs, closed once it reached a final status.
Lists page with a cursor (``next_cursor`` of the previous page, of :data:`INCIDENT_CURSOR_PATTERN`).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events import RemediationRecord, Severity, UtcDatetime

# An incident page's cursor: the opening time of the last incident of the page in
# microseconds since the epoch (within about 316 years of 1970: any time an incident can have
# opened), then its id as hex. The documents state the pattern, so a cursor that matches it
# names a position (the history service and the console read it).
INCIDENT_CURSOR_PATTERN = r"^-?[0-9]{1,16}_[0-9a-f]{32}$"
INCIDENT_CURSOR_MAX = 50


class IncidentStatus(StrEnum):
    """``open``: an anomaly episode still firing, or a manual request whose action is still
    waiting or running; ``resolved``: the series is back to normal; ``closed``: a manual
    request (or an anomaly never raised, such as a self-test's) whose action reached a final
    status (succeeded, failed, blocked, dry run...)."""

    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IncidentKind(StrEnum):
    """``anomaly``: one anomaly episode of one series; ``manual``: a remediation asked for by
    a person (ChatOps, the console or the API) with no anomaly behind it."""

    ANOMALY = "anomaly"
    MANUAL = "manual"


class TimelineKind(StrEnum):
    """What one step of an incident is."""

    FIRST_OUT_OF_RANGE = "first_out_of_range"  # the first sample of the episode
    ANOMALY = "anomaly"  # the detector (or an alert) raised it, with its explanation
    ESCALATION = "escalation"  # the episode reached a higher severity
    DECISION = "decision"  # the remediator decided (allowed, refused, proposed, no action)
    APPROVAL = "approval"  # asked for, approved, rejected or lapsed
    ACTION = "action"  # started, succeeded, failed, interrupted, dry run
    VERIFICATION = "verification"  # did the metric improve after the action
    NOTIFICATION = "notification"  # a message sent (or kept, or failed) about it
    FEEDBACK = "feedback"  # a person said it was a false or true positive
    RESOLUTION = "resolution"  # the series is back to normal


class TimelineEntry(BaseModel):
    """One step of an incident: when, what, who, and the facts of that step."""

    model_config = ConfigDict(frozen=True)

    at: UtcDatetime = Field(description="When it happened.", examples=["2026-12-05T18:00:04Z"])
    kind: TimelineKind = Field(examples=["decision"])
    actor: str = Field(
        description="Who did it: detector, remediator, a person's name, a receiver.",
        examples=["remediator"],
    )
    summary: str = Field(
        description="One line for people.",
        examples=["restart_service blocked by cooldown: the target was acted on 4 min ago"],
    )
    status: str | None = Field(
        None, description="The step's own status (a remediation status, a delivery status...)."
    )
    event_id: str = Field(description="The event (or log entry) this step was read from.")
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="The step's facts: value and expected band, rule and check, approver, "
        "the action's output and exit code, the message text...",
    )


class IncidentSummary(BaseModel):
    """An incident as listed: what, where, how bad, what was done and how it ended."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f3c1e-4f4a-5d4e-9a59-7f3e1f6a2c11",
                    "resource_id": "web-1",
                    "metric": "cpu_utilization",
                    "severity": "critical",
                    "status": "resolved",
                    "opened_at": "2026-12-05T18:00:00Z",
                    "detected_at": "2026-12-05T18:00:04Z",
                    "resolved_at": "2026-12-05T18:09:30Z",
                    "last_event_at": "2026-12-05T18:09:31Z",
                    "explanation": "cpu_utilization=97.5 is above the expected 20 to 60",
                    "rule": "cpu-high-restart",
                    "action": "restart_service",
                    "action_outcome": "verified",
                    "labels": {"service": "nginx"},
                    "events": 9,
                }
            ]
        },
    )

    id: uuid.UUID = Field(
        description="The id of the anomaly event that opened the episode (of a manual "
        "request: the id its remediation records name)."
    )
    kind: IncidentKind = Field(
        IncidentKind.ANOMALY,
        description="anomaly (an episode of a series) or manual (a request with no anomaly).",
    )
    resource_id: str
    metric: str
    severity: Severity = Field(description="The highest severity the episode reached.")
    status: IncidentStatus
    opened_at: UtcDatetime = Field(description="The first sample out of range.")
    detected_at: UtcDatetime | None = Field(None, description="When it was raised.")
    resolved_at: UtcDatetime | None = None
    last_event_at: UtcDatetime = Field(description="The newest step of its timeline.")
    explanation: str = ""
    rule: str | None = Field(None, description="The last rule that decided on it.")
    action: str | None = Field(None, description="The last action decided or run.")
    action_outcome: str | None = Field(
        None, description="The last remediation status (succeeded, blocked, verified...)."
    )
    labels: dict[str, str] = Field(default_factory=dict)
    events: int = Field(0, ge=0, description="Steps in its timeline.")


class Incident(IncidentSummary):
    """An incident with its whole timeline, oldest step first."""

    timeline: list[TimelineEntry] = Field(default_factory=list)


class IncidentPage(BaseModel):
    """A page of incidents, newest first; ``next_cursor`` fetches the next (older) page."""

    model_config = ConfigDict(frozen=True)

    items: list[IncidentSummary]
    next_cursor: str | None = Field(None, description="Null on the last page.")


class AuditPage(BaseModel):
    """A page of the audit log (every remediation record), newest first."""

    model_config = ConfigDict(frozen=True)

    items: list[RemediationRecord]
    next_cursor: str | None = Field(None, description="Null on the last page.")


def incident_url(base: str, incident_id: uuid.UUID | str) -> str:
    """Where people read one incident, under ``base`` (the API or the console)."""
    return f"{base.rstrip('/')}/incidents/{incident_id}"
