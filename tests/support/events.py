"""Synthetic events for tests: what the detector would publish."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import AnomalyEvent, Severity


def cpu_anomaly(
    resource_id: str,
    at: datetime | None = None,
    labels: dict[str, str] | None = None,
    severity: Severity = Severity.CRITICAL,
    metric: str = "cpu_utilization",
) -> AnomalyEvent:
    """A CPU anomaly on ``resource_id`` (97 against an expected 20 to 50)."""
    at = at or datetime.now(UTC)
    return AnomalyEvent(
        event_id=AnomalyEvent.derive_id(resource_id, metric, at),
        resource_id=resource_id,
        metric=metric,
        value=97.0,
        observed_at=at,
        score=0.97,
        severity=severity,
        expected_low=20,
        expected_high=50,
        model_version="test",
        explanation="test",
        labels=labels or {},
    )
