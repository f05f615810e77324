"""Events as the detector and the remediator publish them, for the notifier's tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import (
    AnomalyEvent,
    AnomalyResolved,
    RemediationRecord,
    RemediationStatus,
    Severity,
)

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def anomaly(
    resource_id: str = "web-1",
    metric: str = "cpu_utilization",
    severity: Severity = Severity.CRITICAL,
    *,
    at: datetime = T0,
    value: float = 97.5,
    **fields: Any,
) -> AnomalyEvent:
    data: dict[str, Any] = {
        "event_id": AnomalyEvent.derive_id(resource_id, metric, at),
        "correlation_id": f"corr-{resource_id}-{metric}"[:128],
        "occurred_at": at,
        "resource_id": resource_id,
        "metric": metric,
        "value": value,
        "observed_at": at,
        "score": 0.97,
        "severity": severity,
        "expected_low": 23.6,
        "expected_high": 47.3,
        "model_version": "robust-1",
        "explanation": f"{metric}={value} is 14 robust deviations above its baseline",
        "detectors": ["mad", "ewma"],
        "episode_started_at": at,
        "lasted_s": 0.0,
    }
    data.update(fields)
    return AnomalyEvent.model_validate(data)


def resolved(event: AnomalyEvent, after_s: float = 840.0) -> AnomalyResolved:
    return AnomalyResolved(
        correlation_id=event.correlation_id,
        occurred_at=event.occurred_at + timedelta(seconds=after_s),
        anomaly_id=event.event_id,
        resource_id=event.resource_id,
        metric=event.metric,
        started_at=event.observed_at,
        resolved_at=event.observed_at + timedelta(seconds=after_s),
        duration_s=after_s,
        peak_severity=event.severity,
        last_value=41.2,
    )


def record(
    event: AnomalyEvent | None = None,
    status: RemediationStatus = RemediationStatus.DRY_RUN,
    **fields: Any,
) -> RemediationRecord:
    event = event or anomaly()
    data: dict[str, Any] = {
        "event_id": uuid.uuid5(event.event_id, f"restart_service:{status}"),
        "correlation_id": event.correlation_id,
        "anomaly_id": event.event_id,
        "resource_id": event.resource_id,
        "metric": event.metric,
        "severity": event.severity,
        "action": "restart_service",
        "status": status,
        "reason": f"{event.severity.value} anomaly on {event.metric}",
        "anomaly_value": event.value,
        "expected_low": event.expected_low,
        "expected_high": event.expected_high,
        "anomaly_explanation": event.explanation,
        "rule": "cpu-saturation",
        "risk": "medium",
        "target": event.resource_id,
        "run_id": "r" * 32,
    }
    data.update(fields)
    return RemediationRecord.model_validate(data)
