"""The detector's engine: one event per anomaly episode, nothing from a warming or normal
series, bad samples skipped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.detector.engine import DetectionEngine
from shared.events import MetricBatch, MetricSample, Severity

START = datetime(2026, 1, 1, tzinfo=UTC)


def _batch(values: list[float], resource: str = "web-1", offset: int = 0) -> MetricBatch:
    samples = [
        MetricSample(
            resource_id=resource,
            metric="cpu_utilization",
            value=v,
            timestamp=START + timedelta(seconds=offset + i),
        )
        for i, v in enumerate(values)
    ]
    return MetricBatch(samples=samples, correlation_id="c")


def _engine() -> DetectionEngine:
    return DetectionEngine(window=120, warmup=30, z_threshold=6.0)


def _normal(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(40, 2) for _ in range(n)]


def test_a_spike_raises_one_critical_event_that_explains_itself() -> None:
    engine = _engine()
    assert engine.process_batch(_batch(_normal(200))) == []
    events = engine.process_batch(_batch([97.0], offset=200))
    assert len(events) == 1
    event = events[0]
    assert event.severity == Severity.CRITICAL
    assert event.expected_low < 40 < event.expected_high < 97
    assert event.detectors == ["robust_z"]
    assert "above" in event.explanation
    assert event.correlation_id == "c"


def test_a_sustained_anomaly_is_one_event_and_a_new_episode_another() -> None:
    engine = _engine()
    engine.process_batch(_batch(_normal(200)))
    during = engine.process_batch(_batch([95.0] * 5, offset=200))
    back = engine.process_batch(_batch(_normal(20, seed=2), offset=205))
    again = engine.process_batch(_batch([96.0], offset=225))
    assert len(during) == 1
    assert back == []
    assert len(again) == 1


def test_nothing_is_raised_while_warming_up() -> None:
    engine = _engine()
    assert engine.process_batch(_batch([1.0] * 10 + [1000.0] + [1.0] * 10)) == []


def test_normal_noise_raises_nothing() -> None:
    engine = _engine()
    assert engine.process_batch(_batch(_normal(5000, seed=3))) == []


def test_out_of_order_and_duplicate_samples_are_skipped() -> None:
    engine = _engine()
    engine.process_batch(_batch(_normal(100)))
    assert engine.process_batch(_batch([500.0], offset=50)) == []  # older than the last
    assert engine.process_batch(_batch([500.0], offset=99)) == []  # same timestamp
    assert engine.samples_scored == 100


def test_a_constant_series_flags_a_real_change_only() -> None:
    engine = _engine()
    assert engine.process_batch(_batch([50.0] * 100)) == []
    assert engine.process_batch(_batch([50.2], offset=100)) == []  # within 1 % of the level
    assert len(engine.process_batch(_batch([80.0], offset=101))) == 1


def test_series_are_independent() -> None:
    engine = _engine()
    engine.process_batch(_batch(_normal(100), resource="a"))
    assert engine.process_batch(_batch([500.0], resource="b", offset=100)) == []
    assert len(engine.series) == 2
