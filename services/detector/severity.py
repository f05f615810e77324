"""Severity of an anomaly from how far it is beyond the alarm threshold."""

from __future__ import annotations

from shared.events import Severity

# Multiples of the alarm threshold at which each severity starts.
SEVERITY_STEPS: tuple[tuple[float, Severity], ...] = (
    (2.0, Severity.CRITICAL),
    (1.6, Severity.HIGH),
    (1.3, Severity.MEDIUM),
    (1.0, Severity.LOW),
)


def classify(deviation: float, threshold: float) -> Severity:
    ratio = abs(deviation) / threshold
    for step, severity in SEVERITY_STEPS:
        if ratio >= step:
            return severity
    return Severity.NORMAL
