"""Rendering (no I/O): what a group or a remediation record says, for a receiver's channel.

Slack receivers get Block Kit built from slack-sdk's models (which check Slack's limits);
webhook receivers get the same facts as plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.notifier.core.alerts import Alert, GroupMeta, MessageKind
from services.notifier.core.grouping import FlushPlan
from services.notifier.core.render import json_webhook, slack_alerts, slack_remediation
from services.notifier.core.render.links import Links
from services.notifier.core.render.rendered import Rendered
from shared.events import ALERTMANAGER, RemediationRecord, RemediationStatus

__all__ = ["Channel", "Links", "Rendered", "record_kind", "render_flush", "render_record"]


class Channel(StrEnum):
    SLACK = "slack"
    WEBHOOK = "webhook"


def render_flush(
    plan: FlushPlan, meta: GroupMeta, channel: Channel, links: Links
) -> list[Rendered]:
    """The messages of one group flush: its firing alerts, then its resolutions."""
    out: list[Rendered] = []
    firing = slack_alerts.by_severity([_as_of(a, plan) for a in plan.firing])
    if firing:
        kind = MessageKind.ANOMALY if len(firing) == 1 else MessageKind.ANOMALY_GROUP
        if kind == MessageKind.ANOMALY:
            text = slack_alerts.anomaly_fallback(firing[0])
        else:
            text = slack_alerts.group_fallback(meta, firing)
        if channel == Channel.WEBHOOK:
            payload = json_webhook.alerts_body(kind, text, meta, firing, links, repeat=plan.repeat)
        elif kind == MessageKind.ANOMALY:
            payload = slack_alerts.anomaly_message(firing[0], links, repeat=plan.repeat)
        else:
            payload = slack_alerts.group_message(meta, firing, repeat=plan.repeat)
        news = () if plan.repeat else tuple(a.observed_at for a in firing if a.observed_at)
        out.append(_rendered(kind, text, payload, firing, news))
    resolved = slack_alerts.by_severity(plan.resolved)
    if resolved:
        text = slack_alerts.resolved_fallback(resolved)
        if channel == Channel.WEBHOOK:
            payload = json_webhook.alerts_body(MessageKind.RESOLVED, text, meta, resolved, links)
        else:
            payload = slack_alerts.resolved_message(meta, resolved, links)
        out.append(_rendered(MessageKind.RESOLVED, text, payload, resolved))
    return out


def _as_of(alert: Alert, plan: FlushPlan) -> Alert:
    """A firing alert as it stands when its message is made, where something says it still
    fires then: a reminder ("still firing since"), or an alert, which Alertmanager sends
    while it fires, from its ``startsAt``. How long it has lasted counts to that moment; no
    newer event comes to say so (one per episode). A detector's first message keeps what
    its samples show: the newest may be minutes old (CloudWatch's delay)."""
    moment = plan.spoke_at
    if moment is None or not alert.firing or not (plan.repeat or ALERTMANAGER in alert.detectors):
        return alert
    lasted = max(alert.lasted_s, moment - alert.started_at.timestamp())
    return alert if lasted == alert.lasted_s else alert.model_copy(update={"lasted_s": lasted})


def _rendered(
    kind: MessageKind,
    text: str,
    payload: dict[str, Any],
    alerts: Sequence[Alert],
    anomalies_observed_at: tuple[datetime, ...] = (),
) -> Rendered:
    sources = [eid for a in alerts for eid in a.event_ids[-1:]]
    resolutions = [a.resolution.event_id for a in alerts if a.resolution is not None]
    return Rendered(
        kind=kind,
        text=text,
        payload=payload,
        correlation_id=alerts[0].correlation_id,
        severity=alerts[0].severity,
        source_event_ids=[*sources, *resolutions],
        anomalies_observed_at=anomalies_observed_at,
    )


# By value, so statuses of a newer record version (1.2's verification) are known by name.
RESULT_STATUSES = frozenset(
    {
        RemediationStatus.SUCCEEDED.value,
        RemediationStatus.FAILED.value,
        RemediationStatus.BLOCKED.value,
        RemediationStatus.DRY_RUN.value,
        RemediationStatus.REJECTED.value,
        RemediationStatus.EXPIRED.value,
        RemediationStatus.INTERRUPTED.value,
        "not_improved",  # the action ran and the metric did not get better
        "unverified",  # the action ran and there was no metric to judge it by
        "rule_shadowed",  # a rule was switched to shadow mode (it stops acting)
    }
)


def record_kind(record: RemediationRecord) -> MessageKind | None:
    """The message a record deserves on its own; None for steps that another record follows
    (proposed, approved, running), for "no action" and for "verified" (the resolution says
    it)."""
    if record.status == RemediationStatus.PENDING_APPROVAL:
        return MessageKind.APPROVAL
    if record.status.value in RESULT_STATUSES:
        return MessageKind.ACTION_RESULT
    return None


def render_record(
    record: RemediationRecord, kind: MessageKind, channel: Channel, links: Links | None = None
) -> Rendered:
    links = links or Links()
    slack = channel == Channel.SLACK
    if kind == MessageKind.APPROVAL:
        text = slack_remediation.approval_fallback(record)
        payload = slack_remediation.approval_message(record, links) if slack else None
    else:
        text = slack_remediation.result_fallback(record)
        payload = slack_remediation.result_message(record, links) if slack else None
    if payload is None:
        payload = json_webhook.record_body(kind, text, record, links)
    return Rendered(
        kind=kind,
        text=text,
        payload=payload,
        correlation_id=record.correlation_id,
        severity=record.severity,
        source_event_ids=[str(record.event_id)],
    )
