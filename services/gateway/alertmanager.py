"""Prometheus Alertmanager webhook payloads (version 4) as anomaly events (no I/O).

A firing alert becomes an ``anomaly.detected`` event, a resolved one an ``anomaly.resolved``
event whose ``source`` is ``alertmanager``, whatever the alert says: an alert anyone with an
ingest key can post is its sender's word, so the remediator never takes it for the detector's
reading of a metric (it neither verifies an action nor ends a debounce streak with it).

The anomaly id is derived from the alert's fingerprint and start time, so Alertmanager's
repeated notifications of one alert are the same anomaly (and act at most once).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import ANOMALY_NAMESPACE, AnomalyEvent, AnomalyResolved, Event, Severity

SOURCE = "alertmanager"
RESOURCE_LABELS = ("resource_id", "instance", "pod", "host", "node", "job")
SEVERITY_LABELS = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "minor": Severity.LOW,
    "low": Severity.LOW,
    "info": Severity.LOW,
}


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "version": "4",
                    "groupKey": '{}:{alertname="HighCPU"}',
                    "status": "firing",
                    "receiver": "smartcloudops",
                    "groupLabels": {"alertname": "HighCPU"},
                    "commonLabels": {"alertname": "HighCPU", "severity": "critical"},
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager:9093",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {
                                "alertname": "HighCPU",
                                "instance": "web-1",
                                "severity": "critical",
                            },
                            "annotations": {
                                "summary": "CPU above 95 % for 5 minutes",
                                "value": "97.2",
                            },
                            "startsAt": "2026-11-26T18:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "fingerprint": "c2a3f6e1b0d4a9e8",
                        }
                    ],
                }
            ]
        },
    )
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    alerts: list[Alert] = Field(min_length=1, max_length=1000)


class UnmappableAlertError(ValueError):
    """An alert that names no resource."""


def _resource(alert: Alert) -> str:
    for label in RESOURCE_LABELS:
        value = alert.labels.get(label, "").strip()
        if value:
            return re.sub(r"\s+", "_", value)[:256]
    raise UnmappableAlertError(
        f"alert {alert.labels.get('alertname', '?')} has none of the labels "
        f"{', '.join(RESOURCE_LABELS)}"
    )


def _metric(alert: Alert) -> str:
    name = re.sub(r"[^A-Za-z0-9_.:\-]", "_", alert.labels.get("alertname", "alert"))
    return name if name[:1].isalpha() or name[:1] == "_" else f"alert_{name}"[:128]


def _value(alert: Alert) -> float:
    try:
        value = float(alert.annotations.get("value", "1"))
    except ValueError:
        return 1.0
    return value if value == value and abs(value) != float("inf") else 1.0


def anomaly_id(alert: Alert) -> uuid.UUID:
    key = alert.fingerprint or repr(sorted(alert.labels.items()))
    return uuid.uuid5(ANOMALY_NAMESPACE, f"alertmanager\x1f{key}\x1f{alert.startsAt.isoformat()}")


def to_events(payload: AlertmanagerPayload, correlation_id: str) -> list[Event]:
    events: list[Event] = []
    for alert in payload.alerts:
        resource, metric = _resource(alert), _metric(alert)
        labels = {k: v for k, v in alert.labels.items() if len(k) <= 128}
        if alert.status == "firing":
            severity = SEVERITY_LABELS.get(alert.labels.get("severity", "").lower(), Severity.HIGH)
            summary = alert.annotations.get("summary") or alert.annotations.get("description")
            value = _value(alert)
            events.append(
                AnomalyEvent(
                    event_id=anomaly_id(alert),
                    correlation_id=correlation_id,
                    resource_id=resource,
                    metric=metric,
                    value=value,
                    observed_at=alert.startsAt,
                    score=1.0,
                    severity=severity,
                    expected_low=value,
                    expected_high=value,
                    detectors=["alertmanager"],
                    model_version="alertmanager",
                    explanation=summary or f"Prometheus alert {metric} is firing",
                    labels=labels,
                    episode_started_at=alert.startsAt,
                )
            )
        else:
            ended = alert.endsAt or alert.startsAt
            events.append(
                AnomalyResolved(
                    correlation_id=correlation_id,
                    anomaly_id=anomaly_id(alert),
                    resource_id=resource,
                    metric=metric,
                    started_at=alert.startsAt,
                    resolved_at=ended,
                    duration_s=max((ended - alert.startsAt).total_seconds(), 0.0),
                    peak_severity=SEVERITY_LABELS.get(
                        alert.labels.get("severity", "").lower(), Severity.HIGH
                    ),
                    last_value=_value(alert),
                    labels=labels,
                    source=SOURCE,
                )
            )
    return events
