"""The generic JSON webhook body: the same facts as the Slack message, as plain data, for any
receiver (PagerDuty or Teams through a small adapter, a ticketing system, a log)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.notifier.core.alerts import Alert, GroupMeta, MessageKind
from services.notifier.core.render.links import Links
from services.notifier.core.render.text import FALLBACK_MAX, clip
from shared.events import RemediationRecord

SCHEMA = "smartcloudops.notification.v1"


def _alert(alert: Alert, links: Links) -> dict[str, Any]:
    data = alert.model_dump(
        mode="json",
        include={
            "anomaly_id",
            "correlation_id",
            "resource_id",
            "metric",
            "severity",
            "peak_severity",
            "value",
            "expected_low",
            "expected_high",
            "explanation",
            "detectors",
            "contributing_metrics",
            "labels",
            "started_at",
            "lasted_s",
            "occurrences",
            "decision",
            "resolution",
            "acknowledged_by",
        },
    )
    data["links"] = dict(links.for_alert(alert))
    return data


def alerts_body(
    kind: MessageKind,
    summary: str,
    meta: GroupMeta,
    alerts: Sequence[Alert],
    links: Links,
    *,
    repeat: bool = False,
) -> dict[str, Any]:
    top = max(alerts, key=lambda a: a.severity.rank)
    return {
        "schema": SCHEMA,
        "kind": kind.value,
        "summary": clip(summary, FALLBACK_MAX),
        "severity": top.severity.value,
        "repeat": repeat,
        "group": {"id": meta.group_id, "labels": meta.labels},
        "alerts": [_alert(a, links) for a in alerts],
    }


def record_body(
    kind: MessageKind, summary: str, record: RemediationRecord, links: Links
) -> dict[str, Any]:
    body = {
        "schema": SCHEMA,
        "kind": kind.value,
        "summary": clip(summary, FALLBACK_MAX),
        "severity": record.severity.value,
        "record": record.model_dump(mode="json"),
    }
    for _label, url in links.incident(str(record.anomaly_id)):
        body["incident_url"] = url
    return body
