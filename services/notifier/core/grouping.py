"""How alerts enter, change and leave a group, and when a group speaks (no I/O).

The rules follow Alertmanager's: a new group waits ``group_wait`` to collect what arrives
together; a group that changed after it spoke waits until ``group_interval`` has passed since
its last message; a group with nothing new repeats its firing, unacknowledged alerts every
``repeat_interval``. Changes that deserve a message: a new alert, a severity above the one last
told, a resolution of an alert that was told. Alerts silent for ``alert_ttl_s`` are forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.notifier.core.alerts import (
    EVENT_IDS_KEPT,
    Alert,
    Decision,
    GroupMeta,
    Resolution,
    Timing,
    fingerprint,
)
from shared.events import AnomalyEvent, AnomalyResolved


def open_group(
    gid: str, receiver: str, labels: dict[str, str], timing: Timing, now: float
) -> GroupMeta:
    return GroupMeta(
        group_id=gid,
        receiver=receiver,
        labels=labels,
        timing=timing,
        created_at=now,
        next_flush_at=now + timing.group_wait_s,
    )


def schedule_change(meta: GroupMeta, now: float) -> GroupMeta:
    """A change worth telling arrived: when may the group speak next?"""
    if meta.last_notified_at is None:
        due = meta.created_at + meta.timing.group_wait_s
    else:
        due = max(now, meta.last_notified_at + meta.timing.group_interval_s)
    if meta.next_flush_at is not None:
        due = min(due, meta.next_flush_at)
    return meta.model_copy(update={"next_flush_at": due})


def alert_from_event(event: AnomalyEvent) -> Alert:
    started = event.episode_started_at or event.observed_at
    return Alert(
        fingerprint=fingerprint(event.resource_id, event.metric),
        anomaly_id=str(event.event_id),
        correlation_id=event.correlation_id,
        resource_id=event.resource_id,
        metric=event.metric,
        severity=event.severity,
        peak_severity=event.severity,
        value=event.value,
        value_given=event.value_given,
        expected_low=event.expected_low,
        expected_high=event.expected_high,
        explanation=event.explanation,
        detectors=list(event.detectors),
        contributing_metrics=list(event.contributing_metrics),
        labels=dict(event.labels),
        started_at=started,
        updated_at=event.occurred_at,
        lasted_s=event.lasted_s,
        event_ids=[str(event.event_id)],
        observed_at=event.observed_at,
    )


def apply_anomaly(alert: Alert | None, event: AnomalyEvent) -> tuple[Alert, bool]:
    """The alert after ``event``, and whether the change deserves a message."""
    event_id = str(event.event_id)
    if alert is not None and event_id in alert.event_ids:
        return alert, False  # a redelivery
    if alert is None or not alert.firing:
        fresh = alert_from_event(event)
        return fresh, True
    peak = event.severity if event.severity.rank > alert.peak_severity.rank else alert.peak_severity
    waiting = alert.needs_first_or_escalation_message  # news already, since an earlier event
    updated = alert.model_copy(
        update={
            "anomaly_id": event_id,
            "severity": event.severity,
            "peak_severity": peak,
            "value": event.value,
            "value_given": event.value_given,
            "expected_low": event.expected_low,
            "expected_high": event.expected_high,
            "explanation": event.explanation or alert.explanation,
            "detectors": list(event.detectors) or alert.detectors,
            "contributing_metrics": list(event.contributing_metrics) or alert.contributing_metrics,
            "updated_at": max(alert.updated_at, event.occurred_at),
            "lasted_s": max(alert.lasted_s, event.lasted_s),
            "occurrences": alert.occurrences + 1,
            "event_ids": [*alert.event_ids, event_id][-EVENT_IDS_KEPT:],
        }
    )
    news = updated.needs_first_or_escalation_message
    if news and not (waiting and alert.observed_at is not None):
        updated = updated.model_copy(update={"observed_at": event.observed_at})
    return updated, news


def apply_decision(alert: Alert, decision: Decision) -> Alert | None:
    """Fold the remediator's decision into an alert not yet told; None if it was told."""
    if alert.notified_severity is not None:
        return None
    return alert.model_copy(update={"decision": decision})


def apply_resolution(alert: Alert, event: AnomalyResolved) -> tuple[Alert, bool]:
    """The alert after ``event``, and whether that deserves a message. The resolution of an
    episode that started before the alert's is about an earlier episode of the series (the
    detector publishes it again when it replays its samples, the stream redelivers it): the
    alert, a later episode, goes on firing."""
    if not alert.firing or event.started_at < alert.started_at:
        return alert, False
    resolution = Resolution(
        event_id=str(event.event_id),
        resolved_at=event.resolved_at,
        duration_s=event.duration_s,
        peak_severity=event.peak_severity,
        last_value=event.last_value,
        reason=event.reason,
        source=event.source,
    )
    return alert.model_copy(update={"resolution": resolution}), True


@dataclass
class FlushPlan:
    """What a group says now, and the state it keeps afterwards (``meta`` None: delete it)."""

    firing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    repeat: bool = False
    meta: GroupMeta | None = None
    write: dict[str, Alert] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    spoke_at: float | None = None  # the moment the group speaks: its messages' creation time

    @property
    def speaks(self) -> bool:
        return bool(self.firing or self.resolved)


def _hold_until(meta: GroupMeta, now: float) -> float | None:
    """When a group that has news may speak, or None if it may speak now."""
    if meta.last_notified_at is None:
        ready = meta.created_at + meta.timing.group_wait_s
    else:
        ready = meta.last_notified_at + meta.timing.group_interval_s
    return ready if now < ready else None


def plan_flush(
    meta: GroupMeta,
    alerts: Mapping[str, Alert],
    now: float,
    *,
    silenced: Callable[[Alert], bool],
    alert_ttl_s: float,
) -> FlushPlan:
    plan = FlushPlan()
    live: dict[str, Alert] = {}
    for fp, alert in alerts.items():
        if alert.firing and now - alert.updated_at.timestamp() > alert_ttl_s:
            plan.delete.append(fp)  # forgotten: no event for too long
        else:
            live[fp] = alert

    news = [a for a in live.values() if a.needs_first_or_escalation_message]
    resolved = [a for a in live.values() if not a.firing and a.notified_severity is not None]
    hold = _hold_until(meta, now) if news or resolved else None
    if hold is not None:
        plan.meta = meta.model_copy(update={"next_flush_at": hold})
        return plan

    repeat_due = (
        meta.last_notified_at is not None
        and now >= meta.last_notified_at + meta.timing.repeat_interval_s
    )
    if not news and not resolved and repeat_due:
        news = [a for a in live.values() if a.firing and a.acknowledged_by is None]
        plan.repeat = bool(news)

    for alert in news:
        told = alert.model_copy(update={"notified_severity": alert.severity})
        if not silenced(alert):
            plan.firing.append(alert)
        if alert.firing:
            live[alert.fingerprint] = plan.write[alert.fingerprint] = told
        else:  # resolved before it was ever told: told once, with its resolution
            del live[alert.fingerprint]
            plan.delete.append(alert.fingerprint)
    for alert in resolved:
        if not silenced(alert):
            plan.resolved.append(alert)
        del live[alert.fingerprint]
        plan.delete.append(alert.fingerprint)

    if plan.speaks:
        plan.spoke_at = now
    if not live:
        return plan  # meta None: the group is over
    last = now if plan.speaks else meta.last_notified_at
    wakeups = [a.updated_at.timestamp() + alert_ttl_s for a in live.values() if a.firing]
    if last is not None and any(a.firing and a.acknowledged_by is None for a in live.values()):
        wakeups.append(last + meta.timing.repeat_interval_s)
    plan.meta = meta.model_copy(
        update={
            "last_notified_at": last,
            "sequence": meta.sequence + (1 if plan.speaks else 0),
            "next_flush_at": min(wakeups) if wakeups else now + alert_ttl_s,
        }
    )
    return plan


def epoch(value: datetime) -> float:
    return value.astimezone(UTC).timestamp()
