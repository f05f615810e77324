"""A burst of a size the series has produced again and again does not alarm; a bigger one does."""

from __future__ import annotations

import numpy as np

from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import SeriesDetector

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
STEP = 300.0
EVERY = 300  # a burst every 25 hours at 5-minute periods


def _bursty(seed: int, bursts: int) -> tuple[list[float], list[int]]:
    """A request counter around 100 with a two-sample burst to 129-131 (a nightly job, say)
    every EVERY samples."""
    rng = np.random.default_rng(seed)
    n = 600 + bursts * EVERY
    values = np.round(100.0 + 3.0 * rng.standard_normal(n))
    starts = list(range(600, n, EVERY))
    for s in starts:
        values[s : s + 2] = 130.0 + rng.integers(-1, 2, size=2)
    return [float(v) for v in values], starts


def _alarms_per_burst(config: DetectorConfig, seed: int) -> tuple[SeriesDetector, list[bool], int]:
    values, starts = _bursty(seed, 12)
    det = SeriesDetector(config)
    alarmed = []
    for i, v in enumerate(values):
        r = det.update(T0 + i * STEP, v)
        if i in starts or i - 1 in starts:
            if i in starts:
                alarmed.append(False)
            alarmed[-1] = alarmed[-1] or r.is_anomaly
    return det, alarmed, len(values)


def test_routine_bursts_stop_alarming_once_they_have_recurred() -> None:
    for seed in range(3):
        _, alarmed, _ = _alarms_per_burst(DetectorConfig(), seed)
        assert any(alarmed[:4])  # the first bursts of a series are news
        assert not any(alarmed[6:]), alarmed  # by now they are what this series does


def test_without_the_rule_the_same_bursts_keep_alarming() -> None:
    off = DetectorConfig().replace(recurrence_episodes=0)
    late = sum(sum(_alarms_per_burst(off, seed)[1][6:]) for seed in range(3))
    assert late >= 3


def test_a_bigger_burst_than_the_routine_ones_alarms_at_once() -> None:
    det, _, n = _alarms_per_burst(DetectorConfig(), 0)
    for i in range(n, n + 150):  # quiet again
        det.update(T0 + i * STEP, 100.0 + (i % 5 - 2))
    assert det.update(T0 + (n + 150) * STEP, 170.0).is_anomaly


def test_the_record_of_past_bursts_survives_a_restart() -> None:
    det, _, n = _alarms_per_burst(DetectorConfig(), 1)
    twin = SeriesDetector.from_state(det.to_state())
    for i in range(n, n + 200):
        v = 130.0 if i == n + 150 else 100.0 + (i % 5 - 2)
        assert twin.update(T0 + i * STEP, v) == det.update(T0 + i * STEP, v)
