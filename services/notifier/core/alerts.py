"""What the notifier remembers about an anomaly between messages, and the groups that batch
them (no I/O).

An *alert* is one resource x metric while its anomaly episode lasts: repeated events of the
episode (escalations, redeliveries) update it instead of becoming new messages. A *group* holds
the alerts that one receiver is told about together (Alertmanager's ``group_by``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.events import DETECTOR, NO_DATA, RECOVERED, RemediationStatus, Severity

EVENT_IDS_KEPT = 20


class MessageKind(StrEnum):
    ANOMALY = "anomaly"
    ANOMALY_GROUP = "anomaly_group"
    APPROVAL = "approval"
    ACTION_RESULT = "action_result"
    RESOLVED = "resolved"


def fingerprint(resource_id: str, metric: str) -> str:
    """Stable id of one resource x metric."""
    return hashlib.sha256(f"{resource_id}\x1f{metric}".encode()).hexdigest()[:24]


def group_id(receiver: str, labels: dict[str, str]) -> str:
    key = "\x1f".join([receiver, *(f"{k}={v}" for k, v in sorted(labels.items()))])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class Decision(BaseModel):
    """The remediator's decision on an alert, shown in the alert's first message."""

    model_config = ConfigDict(frozen=True)

    status: RemediationStatus
    summary: str
    event_id: str


class Resolution(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    resolved_at: datetime
    duration_s: float
    peak_severity: Severity
    last_value: float
    # no_data: the series went silent (resolved_at is its last sample); it did not recover
    reason: str = RECOVERED
    source: str = DETECTOR  # or alertmanager: its word, its last value no measurement

    @property
    def silent(self) -> bool:
        return self.reason == NO_DATA


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    fingerprint: str
    anomaly_id: str
    correlation_id: str
    resource_id: str
    metric: str
    severity: Severity
    peak_severity: Severity
    value: float
    value_given: bool = True  # False: an alert posted without a value (``value`` is meaningless)
    expected_low: float
    expected_high: float
    explanation: str = ""
    detectors: list[str] = Field(default_factory=list)
    contributing_metrics: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    started_at: datetime
    updated_at: datetime
    lasted_s: float = 0.0
    occurrences: int = 1
    event_ids: list[str] = Field(default_factory=list)
    decision: Decision | None = None
    resolution: Resolution | None = None
    notified_severity: Severity | None = Field(
        None, description="The severity last told to the receiver; None: never told."
    )
    acknowledged_by: str | None = None
    observed_at: datetime | None = Field(
        None,
        description="Sample time of the event that made the alert worth a message (its first "
        "event, or the escalation): where the end-to-end latency of that message starts.",
    )

    @property
    def firing(self) -> bool:
        return self.resolution is None

    @property
    def needs_first_or_escalation_message(self) -> bool:
        if self.notified_severity is None:
            return True
        return self.firing and self.severity.rank > self.notified_severity.rank


class Timing(BaseModel):
    """Alertmanager's three waits: before a new group's first message, between two messages
    of a group that changed, and before repeating a group that did not change."""

    model_config = ConfigDict(frozen=True)

    group_wait_s: float = Field(ge=0)
    group_interval_s: float = Field(ge=0)
    repeat_interval_s: float = Field(gt=0)


class GroupMeta(BaseModel):
    model_config = ConfigDict(frozen=True)

    group_id: str
    receiver: str
    labels: dict[str, str]
    timing: Timing
    created_at: float
    last_notified_at: float | None = None
    next_flush_at: float | None = None
    sequence: int = Field(0, description="Messages sent so far: makes message ids stable.")
