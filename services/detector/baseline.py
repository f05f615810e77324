"""A robust streaming baseline: distance from the recent median in units of the recent MAD.

Pure: no I/O. One :class:`RobustBaseline` per series; constant memory (the window).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float  # in [0, 1]; 0.5 at the alarm threshold
    is_anomaly: bool
    expected_low: float
    expected_high: float
    deviation: float  # robust z-score (signed)
    warming_up: bool
    detectors: tuple[str, ...] = ()


class RobustBaseline:
    """Scores each value against the median and MAD of the previous ``window`` values."""

    def __init__(self, window: int, warmup: int, z_threshold: float) -> None:
        self.values: deque[float] = deque(maxlen=window)
        self.warmup = warmup
        self.z_threshold = z_threshold
        self.last_timestamp = -math.inf

    def update(self, timestamp: float, value: float) -> ScoreResult | None:
        """Score ``value`` against the past, then learn it. ``None`` for a sample that is not
        newer than the last one of this series (duplicate or out of order) or not finite."""
        if timestamp <= self.last_timestamp or not math.isfinite(value):
            return None
        self.last_timestamp = timestamp
        history = sorted(self.values)
        self.values.append(value)
        if len(history) < self.warmup:
            return ScoreResult(0.0, False, value, value, 0.0, warming_up=True)
        median = _median(history)
        mad = _median(sorted(abs(v - median) for v in history))
        scale = max(MAD_TO_SIGMA * mad, 0.01 * abs(median), 1e-9)
        z = (value - median) / scale
        band = self.z_threshold * scale
        score = 1.0 - 0.5 ** (abs(z) / self.z_threshold)
        anomalous = abs(z) >= self.z_threshold
        return ScoreResult(
            score,
            anomalous,
            median - band,
            median + band,
            z,
            warming_up=False,
            detectors=("robust_z",) if anomalous else (),
        )


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0
