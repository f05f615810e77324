"""An alarm the caller holds back (the paging gate, feedback) and what follows it."""

from __future__ import annotations

import numpy as np

from services.detector.scoring.detector import SeriesDetector

T0 = 1_700_006_400.0
STEP = 300.0


def _warm(seed: int) -> tuple[SeriesDetector, int]:
    det = SeriesDetector()
    values = 100.0 + 5.0 * np.random.default_rng(seed).standard_normal(1500)
    for i, v in enumerate(values):
        det.update(T0 + i * STEP, float(v))
    return det, len(values)


def _first_alarm(det: SeriesDetector, start: int, value: float) -> int:
    for i in range(start, start + 50):
        if det.update(T0 + i * STEP, value).is_anomaly:
            return i
    raise AssertionError("the excursion never alarmed")


def test_the_rest_of_a_held_back_excursion_does_not_alarm_sample_by_sample() -> None:
    det, n = _warm(1)
    edge = det.hi + 0.15 * (det.hi - det.lo)  # a modest new extreme
    i = _first_alarm(det, n, edge)
    det.withdraw_alarm()
    repeats = [det.update(T0 + k * STEP, edge + 0.01 * (k - i)) for k in range(i + 1, i + 20)]
    assert not any(r.is_anomaly for r in repeats)


def test_a_clearly_stronger_event_after_a_held_back_alarm_alarms_at_once() -> None:
    det, n = _warm(2)
    edge = det.hi + 0.15 * (det.hi - det.lo)
    i = _first_alarm(det, n, edge)
    det.withdraw_alarm()
    det.update(T0 + (i + 1) * STEP, 100.0)
    spike = det.update(T0 + (i + 2) * STEP, 100.0 + 40 * 5.0)
    assert spike.is_anomaly


def test_a_held_back_alarm_survives_a_checkpoint() -> None:
    det, n = _warm(3)
    edge = det.hi + 0.15 * (det.hi - det.lo)
    i = _first_alarm(det, n, edge)
    det.withdraw_alarm()
    restored = SeriesDetector.from_state(det.to_state())
    for k in range(i + 1, i + 30):
        v = edge if k < i + 10 else 100.0 + 40 * 5.0
        assert det.update(T0 + k * STEP, v) == restored.update(T0 + k * STEP, v)
