"""The events of whole incidents, as the services publish them, for the history's tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from shared.events import (
    AnomalyEvent,
    AnomalyResolved,
    Event,
    Notification,
    NotificationStatus,
    RemediationRecord,
    RemediationStatus,
    Severity,
)


def opener(resource: str, metric: str, started: datetime, **extra: object) -> AnomalyEvent:
    fields: dict[str, object] = {
        "event_id": AnomalyEvent.derive_id(resource, metric, started),
        "occurred_at": started + timedelta(seconds=20),
        "resource_id": resource,
        "metric": metric,
        "value": 97.5,
        "observed_at": started + timedelta(seconds=15),
        "score": 0.93,
        "severity": Severity.HIGH,
        "expected_low": 20.0,
        "expected_high": 60.0,
        "detectors": ["level_shift"],
        "model_version": "streaming-v1",
        "explanation": f"{metric}=97.5 is above the expected 20 to 60",
        "labels": {"service": "nginx"},
        "episode_started_at": started,
    }
    fields.update(extra)
    return AnomalyEvent.model_validate(fields)


def escalation(first: AnomalyEvent, severity: Severity, after_s: float) -> AnomalyEvent:
    assert first.episode_started_at is not None
    return first.model_copy(
        update={
            "event_id": AnomalyEvent.derive_escalation_id(first.event_id, severity),
            "severity": severity,
            "value": 99.0,
            "occurred_at": first.occurred_at + timedelta(seconds=after_s),
            "explanation": f"{first.metric}=99 is above the expected 20 to 60",
        }
    )


def record(
    about: AnomalyEvent, status: RemediationStatus, after_s: float, **extra: object
) -> RemediationRecord:
    fields: dict[str, object] = {
        "occurred_at": about.occurred_at + timedelta(seconds=after_s),
        "anomaly_id": about.event_id,
        "resource_id": about.resource_id,
        "metric": about.metric,
        "severity": about.severity,
        "action": "restart_service",
        "status": status,
        "reason": status.value.replace("_", " "),
        "rule": "cpu-restart",
        "risk": "medium",
        "target": about.resource_id,
        "run_id": f"run-{about.event_id.hex[:8]}",
    }
    fields.update(extra)
    return RemediationRecord.model_validate(fields)


def told(about: Event, kind: str, after_s: float) -> Notification:
    return Notification(
        occurred_at=about.occurred_at + timedelta(seconds=after_s),
        source_event_id=about.event_id,
        source_event_ids=[about.event_id],
        message_id=uuid.uuid4().hex,
        receiver="slack",
        kind=kind,
        channel="slack",
        status=NotificationStatus.DELIVERED,
        text=f"{kind} message",
    )


def resolution(
    first: AnomalyEvent, after_s: float, peak: Severity = Severity.CRITICAL
) -> AnomalyResolved:
    assert first.episode_started_at is not None
    ended = first.episode_started_at + timedelta(seconds=after_s)
    return AnomalyResolved(
        event_id=AnomalyResolved.derive_id(first.event_id),
        occurred_at=ended + timedelta(seconds=1),
        anomaly_id=first.event_id,
        resource_id=first.resource_id,
        metric=first.metric,
        started_at=first.episode_started_at,
        resolved_at=ended,
        duration_s=after_s,
        peak_severity=peak,
        last_value=31.0,
    )


def whole_incident(resource: str, metric: str, started: datetime) -> list[Event]:
    """Raised, escalated, an approval asked and given, the action run and verified, people
    told at each step, back to normal."""
    first = opener(resource, metric, started)
    worse = escalation(first, Severity.CRITICAL, 30)
    asked = record(worse, RemediationStatus.PENDING_APPROVAL, 1, approval_id="ap-1")
    approved = record(worse, RemediationStatus.APPROVED, 60, approval_id="ap-1", decided_by="alice")
    done = record(
        worse,
        RemediationStatus.SUCCEEDED,
        90,
        executor="ssm",
        output_excerpt="nginx restarted",
        exit_code=0,
        command_id="cmd-1",
    )
    checked = record(
        worse, RemediationStatus.VERIFIED, 300, observed_metric=metric, observed_value=35.0
    )
    return [
        first,
        told(first, "anomaly", 2),
        worse,
        asked,
        told(asked, "approval", 2),
        approved,
        done,
        told(done, "action", 2),
        checked,
        resolution(first, 600),
    ]


def blocked_incident(resource: str, metric: str, started: datetime) -> list[Event]:
    """Raised, the action refused by a safety check, back to normal."""
    first = opener(resource, metric, started, severity=Severity.MEDIUM)
    refused = record(first, RemediationStatus.BLOCKED, 1, blocked_by="cooldown")
    return [first, refused, resolution(first, 120, Severity.MEDIUM)]


def manual_request(
    resource: str, started: datetime, statuses: list[RemediationStatus]
) -> list[RemediationRecord]:
    """The records of a remediation a person asked for with no anomaly behind it, as the
    remediator writes them (its metric is "manual", it names no sample)."""
    subject = uuid.uuid4()
    return [
        RemediationRecord(
            occurred_at=started + timedelta(seconds=i),
            anomaly_id=subject,
            resource_id=resource,
            metric="manual",
            severity=Severity.MEDIUM,
            action="scale_asg",
            status=status,
            reason=f"manual request by alice: {status.value}",
            decided_by="alice",
            target=resource,
            run_id=f"run-{subject.hex[:8]}",
        )
        for i, status in enumerate(statuses)
    ]
