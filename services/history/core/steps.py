"""What each event adds to the record (no I/O): the timeline steps it tells, and how to find
the incident they belong to.

An incident's id is the id of the event that opened its anomaly episode. An anomaly event
names its episode itself (an escalation's id is derived from the episode's); a resolution
names it; a remediation record names the anomaly event it decided on, a notification the
events it told about, feedback the anomaly: those are found through the links the store keeps
from every event id to its incident (``Step.via``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.events import (
    ALERTMANAGER,
    DETECTOR,
    AnomalyEvent,
    AnomalyResolved,
    Event,
    Notification,
    NotificationStatus,
    RemediationRecord,
    RemediationStatus,
    Severity,
)
from shared.incidents import TimelineEntry, TimelineKind


@dataclass(frozen=True)
class Steps:
    """The steps one event adds, where they go, and the event ids to link to that incident.

    ``incident_id`` is known for anomaly events and resolutions; otherwise the first of ``via``
    that the store has linked wins, and ``via[0]`` stands in until its anomaly is recorded.
    """

    entries: list[tuple[str, TimelineEntry]]  # (unique key, entry)
    incident_id: uuid.UUID | None = None
    via: list[uuid.UUID] = field(default_factory=list)
    links: list[uuid.UUID] = field(default_factory=list)


def episode_of(event: AnomalyEvent) -> uuid.UUID:
    """The episode an anomaly event belongs to: an escalation's id is derived from the id of
    the event that opened its episode, which is derived from the episode's first sample."""
    if event.episode_started_at is not None:
        opener = AnomalyEvent.derive_id(event.resource_id, event.metric, event.episode_started_at)
        if event.event_id == AnomalyEvent.derive_escalation_id(opener, event.severity):
            return opener
    return event.event_id


def is_escalation(event: AnomalyEvent) -> bool:
    return episode_of(event) != event.event_id


def anomaly_steps(event: AnomalyEvent) -> Steps:
    eid = str(event.event_id)
    place = {"resource_id": event.resource_id, "metric": event.metric, "labels": event.labels}
    band: dict[str, Any] = {
        "value": event.value,
        "expected_low": event.expected_low,
        "expected_high": event.expected_high,
    }
    if not event.value_given:  # an alert posted without a value: none to record
        band = {"value_given": False, **{k: v for k, v in band.items() if k != "value"}}
    actor = ALERTMANAGER if ALERTMANAGER in event.detectors else DETECTOR
    if is_escalation(event):
        entry = TimelineEntry(
            at=event.occurred_at,
            kind=TimelineKind.ESCALATION,
            actor=actor,
            summary=f"escalated to {event.severity.value}: {event.explanation}",
            status=event.severity.value,
            event_id=eid,
            detail={**place, **band, "severity": event.severity.value, "score": event.score},
        )
        return Steps([(eid, entry)], incident_id=episode_of(event), links=[event.event_id])
    first_at = event.episode_started_at or event.observed_at
    first = TimelineEntry(
        at=first_at,
        kind=TimelineKind.FIRST_OUT_OF_RANGE,
        actor=actor,
        summary=(
            f"{event.metric} on {event.resource_id} started firing in Alertmanager"
            if actor == ALERTMANAGER  # an alert: no range to leave
            else f"{event.metric} of {event.resource_id} left its expected range"
        ),
        event_id=eid,
        detail={**place, "expected_low": event.expected_low, "expected_high": event.expected_high},
    )
    raised = TimelineEntry(
        at=event.occurred_at,
        kind=TimelineKind.ANOMALY,
        actor=actor,
        summary=event.explanation,
        status=event.severity.value,
        event_id=eid,
        detail={
            **place,
            **band,
            "severity": event.severity.value,
            "score": event.score,
            "observed_at": event.observed_at.isoformat(),
            "detectors": event.detectors,
            "contributing_metrics": event.contributing_metrics,
            "model_version": event.model_version,
            "explanation": event.explanation,
        },
    )
    return Steps(
        [(f"{eid}:first", first), (eid, raised)],
        incident_id=event.event_id,
        links=[event.event_id],
    )


def resolution_steps(event: AnomalyResolved) -> Steps:
    peak = event.peak_severity.value
    if event.went_silent:
        summary = (
            f"went silent (no samples since; anomalous for {event.duration_s:.0f}s before, "
            f"peak {peak}): closed, not recovered"
        )
    else:
        summary = f"back to normal after {event.duration_s:.0f}s (peak {peak})"
    entry = TimelineEntry(
        at=event.resolved_at,
        kind=TimelineKind.RESOLUTION,
        actor=event.source,
        summary=summary,
        status="resolved",
        event_id=str(event.event_id),
        detail={
            "resource_id": event.resource_id,
            "metric": event.metric,
            "duration_s": event.duration_s,
            "peak_severity": event.peak_severity.value,
            # Alertmanager's resolved alert repeats the value it fired with, or none at all:
            # its word, not a measurement, so none is recorded.
            **({} if event.source == ALERTMANAGER else {"last_value": event.last_value}),
            "reason": event.reason,
        },
    )
    return Steps([(str(event.event_id), entry)], incident_id=event.anomaly_id)


APPROVAL_STATUSES = {
    RemediationStatus.PENDING_APPROVAL,
    RemediationStatus.APPROVED,
    RemediationStatus.REJECTED,
    RemediationStatus.EXPIRED,
}
ACTION_STATUSES = {
    RemediationStatus.RUNNING,
    RemediationStatus.SUCCEEDED,
    RemediationStatus.FAILED,
    RemediationStatus.INTERRUPTED,
    RemediationStatus.DRY_RUN,
}
VERIFICATION_STATUSES = {
    RemediationStatus.VERIFIED,
    RemediationStatus.NOT_IMPROVED,
    RemediationStatus.RULE_SHADOWED,
    RemediationStatus.UNVERIFIED,
}


def record_kind(status: RemediationStatus) -> TimelineKind:
    if status in APPROVAL_STATUSES:
        return TimelineKind.APPROVAL
    if status in ACTION_STATUSES:
        return TimelineKind.ACTION
    if status in VERIFICATION_STATUSES:
        return TimelineKind.VERIFICATION
    return TimelineKind.DECISION


def record_actor(record: RemediationRecord) -> str:
    if record.decided_by and record.status in APPROVAL_STATUSES | {RemediationStatus.PROPOSED}:
        return record.decided_by
    if record.status in ACTION_STATUSES:
        return record.executor
    return "remediator"


def record_summary(record: RemediationRecord) -> str:
    action = record.action or "no action"
    text = f"{action}: {record.status.value}"
    if record.blocked_by:
        text += f" by {record.blocked_by}"
    if record.reason:
        text += f" ({record.reason})"
    return text


def record_steps(record: RemediationRecord) -> Steps:
    detail: dict[str, Any] = record.model_dump(
        mode="json",
        exclude={"schema_version", "type", "event_id", "correlation_id", "occurred_at"},
        exclude_none=True,
    )
    detail["check"] = record.blocked_by or ("allowed" if record.action else None)
    entry = TimelineEntry(
        at=record.occurred_at,
        kind=record_kind(record.status),
        actor=record_actor(record),
        summary=record_summary(record),
        status=record.status.value,
        event_id=str(record.event_id),
        detail=detail,
    )
    return Steps([(str(record.event_id), entry)], via=[record.anomaly_id], links=[record.event_id])


def _receiver_name(receiver: str) -> str:
    return "Slack" if receiver.lower() == "slack" else receiver


def notification_actor(event: Notification) -> str:
    """Who the message went to when delivered; else the notifier, which kept it or gave up."""
    if event.status == NotificationStatus.DELIVERED:
        return event.receiver or event.channel
    return "notifier"


def notification_summary(event: Notification) -> str:
    receiver = event.receiver or event.channel
    if event.status == NotificationStatus.OUTBOX:
        return (
            f"{event.kind} message kept in the outbox "
            f"(no {_receiver_name(receiver)} webhook configured)"
        )
    if event.status == NotificationStatus.FAILED:
        tries = "1 attempt" if event.attempts == 1 else f"{event.attempts} attempts"
        return f"{event.kind} message to {_receiver_name(receiver)} failed after {tries}"
    via = f" via {event.channel}" if event.channel != receiver else ""
    return f"{event.kind} message delivered to {_receiver_name(receiver)}{via}"


def notification_steps(event: Notification) -> Steps:
    sources = list(event.source_event_ids) or [event.source_event_id]
    entry = TimelineEntry(
        at=event.occurred_at,
        kind=TimelineKind.NOTIFICATION,
        actor=notification_actor(event),
        summary=notification_summary(event),
        status=event.status.value,
        event_id=str(event.event_id),
        detail={
            "kind": event.kind,
            "channel": event.channel,
            "receiver": event.receiver,
            "message_id": event.message_id,
            "attempts": event.attempts,
            "error": event.error,
            "text": event.text,
            "source_event_ids": [str(s) for s in sources],
        },
    )
    return Steps([(str(event.event_id), entry)], via=sources)


def feedback_steps(
    entry_id: str, anomaly_id: uuid.UUID, verdict: str, by: str, note: str, at: datetime
) -> Steps:
    """A feedback entry of the detector's feedback log (not an event: keyed by its entry id)."""
    words = verdict.replace("_", " ")
    entry = TimelineEntry(
        at=at,
        kind=TimelineKind.FEEDBACK,
        actor=by or "unknown",
        summary=f"marked a {words}" + (f": {note}" if note else ""),
        status=verdict,
        event_id=f"feedback:{entry_id}",
        detail={"verdict": verdict, "note": note, "anomaly_id": str(anomaly_id)},
    )
    return Steps([(f"feedback:{entry_id}", entry)], via=[anomaly_id])


def steps_of(event: Event) -> Steps | None:
    """The steps of any event the history keeps; None for what it does not (metric batches)."""
    if isinstance(event, AnomalyEvent):
        return anomaly_steps(event)
    if isinstance(event, AnomalyResolved):
        return resolution_steps(event)
    if isinstance(event, RemediationRecord):
        return record_steps(event)
    if isinstance(event, Notification):
        return notification_steps(event)
    return None


SEVERITY_OF = {s.value: s for s in Severity}
