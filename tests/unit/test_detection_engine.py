"""The detector's engine: one event per anomaly episode, resolution, hard limits, feedback, and
state that survives a restart (severity bands and escalation: ``test_severity_levels.py``)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.detector.detection_engine import DetectionEngine
from shared.events import AnomalyEvent, AnomalyResolved, Event, MetricBatch, MetricSample, Severity

START = datetime(2026, 1, 1, tzinfo=UTC)


def _batch(
    values: list[float], resource: str = "web-1", offset: int = 0, metric: str = "cpu_utilization"
) -> MetricBatch:
    samples = [
        MetricSample(
            resource_id=resource,
            metric=metric,
            value=v,
            timestamp=START + timedelta(minutes=offset + i),
        )
        for i, v in enumerate(values)
    ]
    return MetricBatch(samples=samples, correlation_id="c")


def _normal(n: int, seed: int = 1, mean: float = 40.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, 2) for _ in range(n)]


def _anomalies(events: list[Event]) -> list[AnomalyEvent]:
    return [e for e in events if isinstance(e, AnomalyEvent)]


def test_a_spike_raises_one_critical_event_that_explains_itself() -> None:
    engine = DetectionEngine()
    assert engine.process_batch(_batch(_normal(400))) == []
    events = _anomalies(engine.process_batch(_batch([97.0], offset=400)))
    assert len(events) == 1
    event = events[0]
    assert event.severity == Severity.CRITICAL
    assert event.expected_low < 40 < event.expected_high < 97
    assert event.detectors
    assert "above the expected" in event.explanation
    assert event.correlation_id == "c"
    assert event.episode_started_at == event.observed_at


def test_a_sustained_anomaly_is_one_event_and_resolves_once_back_to_normal() -> None:
    engine = DetectionEngine()
    engine.process_batch(_batch(_normal(400)))
    during = engine.process_batch(_batch([95.0] * 5, offset=400))
    after = engine.process_batch(_batch(_normal(20, seed=2), offset=405))
    assert len(_anomalies(during)) == 1
    resolved = [e for e in after if isinstance(e, AnomalyResolved)]
    assert len(resolved) == 1
    assert resolved[0].anomaly_id == _anomalies(during)[0].event_id
    assert resolved[0].duration_s >= 5 * 60


def test_nothing_is_raised_while_warming_up() -> None:
    engine = DetectionEngine.with_warmup(150)
    assert engine.process_batch(_batch([*_normal(50), 1000.0, *_normal(50, seed=2)])) == []
    assert engine.warming_up() == 1


def test_a_hard_limit_pages_even_while_warming_up() -> None:
    engine = DetectionEngine()
    events = _anomalies(
        engine.process_batch(_batch([50.0] * 10 + [96.0], metric="disk_used_percent"))
    )
    assert len(events) == 1
    assert events[0].severity == Severity.CRITICAL
    assert "hard_limit" in events[0].detectors


def test_normal_noise_raises_nothing() -> None:
    engine = DetectionEngine()
    events = engine.process_batch(_batch(_normal(3000, seed=3)))
    assert len(_anomalies(events)) <= 1


def test_out_of_order_and_duplicate_samples_are_skipped() -> None:
    engine = DetectionEngine()
    engine.process_batch(_batch(_normal(300)))
    assert engine.process_batch(_batch([500.0], offset=50)) == []  # older than the last
    assert engine.process_batch(_batch([500.0], offset=299)) == []  # same timestamp
    assert engine.samples_scored == 300


def test_state_survives_a_restart_with_identical_results() -> None:
    original = DetectionEngine()
    original.process_batch(_batch(_normal(300)))
    saved = {k: json.loads(json.dumps(v)) for k, v in original.take_dirty().items()}
    restored = DetectionEngine()
    assert restored.restore(saved.items()) == 1
    tail = _batch([*_normal(50, seed=9), 99.0], offset=300)
    a = original.process_batch(tail)
    b = restored.process_batch(tail)
    assert [e.model_dump(exclude={"occurred_at"}) for e in a] == [
        e.model_dump(exclude={"occurred_at"}) for e in b
    ]
    assert len(_anomalies(a)) == 1


def test_false_positive_feedback_stops_the_same_pattern_paging_again() -> None:
    engine = DetectionEngine()
    engine.process_batch(_batch(_normal(400)))
    first = _anomalies(engine.process_batch(_batch([70.0], offset=400)))
    assert len(first) == 1
    state = engine.series[("web-1", "cpu_utilization")]
    state.feedback.false_positive(70.0, first[0].expected_low, first[0].expected_high)
    engine.process_batch(_batch(_normal(200, seed=4), offset=401))
    again = _anomalies(engine.process_batch(_batch([69.0], offset=601)))
    assert again == []
    assert state.feedback.threshold_bias > 0


def test_a_false_positive_on_a_far_spike_does_not_mute_a_different_incident() -> None:
    """A spike to 500 called normal (a glitch, or a value someone sent on purpose) mutes spikes
    like it, not a CPU pinned at 97 % a day later on a series at 40."""
    engine = DetectionEngine()
    engine.process_batch(_batch(_normal(400)))
    (spike,) = _anomalies(engine.process_batch(_batch([500.0], offset=400)))
    state = engine.series[("web-1", "cpu_utilization")]
    state.feedback.false_positive(500.0, spike.expected_low, spike.expected_high)
    engine.process_batch(_batch(_normal(2000, seed=4), offset=401))
    assert _anomalies(engine.process_batch(_batch([97.0] * 5, offset=2401)))
    assert state.feedback.known_normal(520.0) and not state.feedback.known_normal(97.0)


@pytest.mark.parametrize("glitch", [1e4, 1e9, -1e9])
def test_one_absurd_sample_does_not_blind_its_series(glitch: float) -> None:
    """A glitch (a counter that wrapped, a value someone sent on purpose) alarms once; the
    series' baseline and range stay near what it was, so once its quiet period is over (100
    five-minute periods) a real incident pages again, against the same expected range."""
    engine = DetectionEngine()
    engine.process_batch(_batch(_normal(400)))
    assert _anomalies(engine.process_batch(_batch([glitch], offset=400)))
    engine.process_batch(_batch(_normal(600, seed=4), offset=401))
    (incident,) = _anomalies(engine.process_batch(_batch([97.0] * 5, offset=1001)))
    assert 30.0 < incident.expected_low < incident.expected_high < 50.0
    detector = engine.series[("web-1", "cpu_utilization")].detector
    assert detector.hi < 100.0 and detector.lo > -50.0  # the range at most doubled


def test_an_alarm_the_paging_gate_held_back_does_not_mute_the_next_incident() -> None:
    """Young series alarm on noise that the paging gate holds back; that must not start the
    scorer's quiet period, or a real spike minutes later would be missed."""
    engine = DetectionEngine.with_warmup(150)
    state_series = ("web-1", "cpu_utilization")
    held_back = 0
    for i, value in enumerate(_normal(240, seed=14, mean=35.0)):
        step = engine.step(*state_series, START + timedelta(minutes=i), value, "c")
        if step.verdict and step.verdict.result.is_anomaly and not step.verdict.alarm:
            held_back += 1
    spike = engine.step(*state_series, START + timedelta(minutes=240), 97.5, "c")
    assert held_back >= 1  # the situation this test is about did arise
    assert isinstance(spike.event, AnomalyEvent)


def test_a_state_saved_by_another_version_starts_the_series_afresh() -> None:
    engine = DetectionEngine()
    restored = engine.restore([(("web-1", "cpu"), {"d": {"v": -1}, "t": 0.0})])
    assert restored == 0
    assert engine.unreadable_states == 1
    assert engine.process_batch(_batch(_normal(10))) == []  # scoring goes on
