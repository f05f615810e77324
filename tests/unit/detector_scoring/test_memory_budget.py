"""A watched series costs at most 4 KiB in the detector, and a checkpoint restores it exactly."""

from __future__ import annotations

import gc
import json
import tracemalloc
from datetime import UTC, datetime

import numpy as np

from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.detector import SeriesDetector

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
BUDGET = 4096
SAMPLES = 260  # past the warm-up: every sub-detector holds its full state


def _series(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES)
    values = 40.0 + 10.0 * np.sin(2 * np.pi * t / 288) + rng.normal(0.0, 2.0, SAMPLES)
    return [float(v) for v in np.round(values, 1)]  # quantised like CloudWatch CPU


def test_one_series_in_the_engine_stays_within_4_kib() -> None:
    series = 30
    values = [_series(s) for s in range(series)]
    stamps = [datetime.fromtimestamp(T0 + 60.0 * i, UTC) for i in range(SAMPLES)]
    names = [f"host-{s}" for s in range(series)]
    gc.collect()
    tracemalloc.start()
    try:
        engine = DetectionEngine(max_future_s=None)
        before = tracemalloc.get_traced_memory()[0]
        for s, name in enumerate(names):
            for i in range(SAMPLES):
                engine.step(name, "cpu_utilization", stamps[i], values[s][i], "test")
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(engine.series) == series
    assert used / series <= BUDGET, f"{used / series:.0f} bytes per series"


def test_restored_detector_scores_exactly_like_the_original() -> None:
    values = _series(7) * 4
    det = SeriesDetector()
    for i, v in enumerate(values[:700]):
        det.update(T0 + 60.0 * i, v)
    saved = json.loads(json.dumps(det.to_state()))
    twin = SeriesDetector.from_state(saved)
    assert twin.last_result == det.last_result
    for i, v in enumerate(values[700:], start=700):
        assert twin.update(T0 + 60.0 * i, v) == det.update(T0 + 60.0 * i, v)
