"""An open anomaly of a series that stops sending (a terminated instance, a deleted pod) is
closed once the series has been silent long enough while others kept sending, with a
resolution saying ``no_data``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.detector.detection_engine import DetectionEngine
from shared.events import AnomalyEvent, AnomalyResolved, MetricBatch, MetricSample

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0


def batch(values: list[float], resource: str, offset: int = 0, step_min: int = 1) -> MetricBatch:
    samples = [
        MetricSample(
            resource_id=resource,
            metric="cpu_utilization",
            value=v,
            timestamp=START + timedelta(minutes=(offset + i) * step_min),
        )
        for i, v in enumerate(values)
    ]
    return MetricBatch(samples=samples, correlation_id="c")


def at(engine: DetectionEngine, resource: str, seconds: float, value: float = 40.0) -> None:
    """One sample of ``resource`` timed ``seconds`` after START: the stream's clock moves."""
    sample = MetricSample(
        resource_id=resource,
        metric="cpu_utilization",
        value=value,
        timestamp=START + timedelta(seconds=seconds),
    )
    engine.process_batch(MetricBatch(samples=[sample], correlation_id="c"))


def normal(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(40, 2) for _ in range(n)]


def open_anomaly(engine: DetectionEngine, resource: str, step_min: int = 1) -> AnomalyEvent:
    engine.process_batch(batch(normal(400, seed=1), resource, step_min=step_min))
    events = engine.process_batch(batch([97.0, 96.0], resource, offset=400, step_min=step_min))
    opened = [e for e in events if isinstance(e, AnomalyEvent)]
    assert len(opened) == 1
    return opened[0]


def test_a_silent_series_open_anomaly_is_closed_once_as_no_data() -> None:
    engine = DetectionEngine(max_future_s=None)
    opened = open_anomaly(engine, "web-1")
    last = 401 * 60.0
    at(engine, "web-2", last + HOUR - 1)
    assert engine.close_silent(HOUR) == []  # not silent long enough yet
    at(engine, "web-2", last + HOUR + 1)
    closed = engine.close_silent(HOUR)
    assert len(closed) == 1
    resolution = closed[0]
    assert isinstance(resolution, AnomalyResolved)
    assert resolution.reason == "no_data"
    assert resolution.anomaly_id == opened.event_id
    assert resolution.event_id == AnomalyResolved.derive_id(opened.event_id)
    assert resolution.resolved_at == START + timedelta(seconds=last)  # its last sample
    assert resolution.last_value == 96.0
    at(engine, "web-2", last + 2 * HOUR)
    assert engine.close_silent(HOUR) == []  # closed once


def test_nothing_is_closed_while_no_series_sends() -> None:
    """Ingestion stopped (the gateway down, the network cut): every series is silent, none is
    told it went away."""
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "web-1")
    assert engine.close_silent(HOUR) == []


def test_a_series_still_sending_is_left_alone() -> None:
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "web-1")
    last = 401 * 60.0
    at(engine, "web-1", last + HOUR / 2, value=95.0)  # still anomalous, still sending
    at(engine, "web-2", last + HOUR + 1)
    assert engine.close_silent(HOUR) == []
    at(engine, "web-2", last + 2 * HOUR)
    assert len(engine.close_silent(HOUR)) == 1


def test_a_series_sampled_rarely_is_given_ten_of_its_intervals() -> None:
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "batch-job", step_min=60)  # hourly samples
    last = 401 * HOUR
    at(engine, "web-2", last + 2 * HOUR)
    assert engine.close_silent(HOUR) == []
    at(engine, "web-2", last + 10 * HOUR + 1)
    assert len(engine.close_silent(HOUR)) == 1


def test_the_stream_clock_survives_a_restart() -> None:
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "web-1")
    at(engine, "web-2", 401 * 60.0 + 2 * HOUR)
    saved = engine.take_dirty()
    restarted = DetectionEngine(max_future_s=None)
    restarted.restore(saved.items())
    assert len(restarted.close_silent(HOUR)) == 1


def test_the_check_keeps_only_the_series_with_an_anomaly_open() -> None:
    """Its cost follows the open anomalies, not the series: one that resolved is let go."""
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "web-1")
    engine.process_batch(batch(normal(400, seed=3), "web-2"))
    assert [s.resource_id for s in engine.open_episodes] == ["web-1"]
    engine.process_batch(batch(normal(20, seed=4), "web-1", offset=402))  # back to normal
    assert engine.open_episodes == set()
