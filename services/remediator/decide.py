"""Which action an anomaly calls for (no I/O). The rules engine replaces this table."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import AnomalyEvent, Severity

# metric name fragment -> action, first match wins
DEFAULT_ACTIONS: tuple[tuple[str, str], ...] = (
    ("disk", "cleanup_disk"),
    ("cpu", "restart_service"),
    ("mem", "restart_service"),
    ("error", "restart_service"),
    ("latency", "scale_out"),
    ("response_time", "scale_out"),
    ("network", "enhance_monitoring"),
)
MIN_SEVERITY = Severity.HIGH


@dataclass(frozen=True, slots=True)
class Decision:
    action: str | None
    reason: str


def decide(anomaly: AnomalyEvent) -> Decision:
    if anomaly.severity.rank < MIN_SEVERITY.rank:
        return Decision(
            None, f"severity {anomaly.severity} is below {MIN_SEVERITY}: watch, do not act"
        )
    metric = anomaly.metric.lower()
    for fragment, action in DEFAULT_ACTIONS:
        if fragment in metric:
            return Decision(action, f"{anomaly.severity} anomaly on {anomaly.metric}")
    return Decision(None, f"no action is defined for metric {anomaly.metric}")
