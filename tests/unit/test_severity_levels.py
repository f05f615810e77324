"""Severity: the five levels' score bands, and an anomaly that lasts going up one level per
escalation period (at most to ``high``), also across a restart."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.detector.detection_engine import DetectionEngine
from services.detector.severity import HardLimit, SeverityPolicy
from shared.events import AnomalyEvent, Event, MetricBatch, MetricSample, Severity

START = datetime(2026, 1, 1, tzinfo=UTC)
METRIC = "queue_percent"


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (1.0, Severity.CRITICAL),
        (0.85, Severity.CRITICAL),
        (0.8499, Severity.HIGH),
        (0.7, Severity.HIGH),
        (0.6999, Severity.MEDIUM),
        (0.6, Severity.MEDIUM),
        (0.5999, Severity.LOW),
        (0.4, Severity.LOW),
    ],
)
def test_an_alarm_s_severity_follows_its_score_band(score: float, severity: Severity) -> None:
    assert SeverityPolicy().from_score(score) == severity


def _batch(values: list[float], offset: int = 0, metric: str = METRIC) -> MetricBatch:
    samples = [
        MetricSample(
            resource_id="queue-1",
            metric=metric,
            value=v,
            timestamp=START + timedelta(minutes=offset + i),
        )
        for i, v in enumerate(values)
    ]
    return MetricBatch(samples=samples, correlation_id="c")


def test_samples_that_raise_no_alarm_are_normal_and_a_spike_is_critical() -> None:
    engine = DetectionEngine()
    rng = random.Random(3)
    for minute in range(400):
        step = engine.step(
            "web-1", "cpu_utilization", START + timedelta(minutes=minute), rng.gauss(40, 2), "c"
        )
        if step.verdict is not None and not step.verdict.alarm:
            assert step.verdict.severity == Severity.NORMAL
    spike = engine.step("web-1", "cpu_utilization", START + timedelta(minutes=400), 97.0, "c")
    assert spike.verdict is not None and spike.verdict.alarm
    assert spike.verdict.result.score >= 0.85
    assert spike.verdict.severity == Severity.CRITICAL


def test_an_alarm_in_the_medium_band_is_published_as_medium() -> None:
    # Every alarm's score falls in the medium band of this policy.
    policy = SeverityPolicy(score_bands=((2.0, Severity.CRITICAL), (0.0, Severity.MEDIUM)))
    engine = DetectionEngine(policy=policy)
    rng = random.Random(3)
    engine.process_batch(_batch([rng.gauss(40, 2) for _ in range(400)], metric="cpu"))
    events = engine.process_batch(_batch([97.0], offset=400, metric="cpu"))
    assert [e.severity for e in events if isinstance(e, AnomalyEvent)] == [Severity.MEDIUM]


def _engine(*limits: HardLimit) -> DetectionEngine:
    # Hard limits make each sample's severity known in advance (the model is still warming up).
    low = HardLimit(metric=METRIC, above=93, severity="low")
    return DetectionEngine(policy=SeverityPolicy(escalate_after_s=600, hard_limits=(low, *limits)))


def _published(events: list[Event]) -> list[tuple[float, Severity]]:
    """(minutes since the episode opened, severity) of every anomaly event."""
    return [
        (e.lasted_s / 60, e.severity)
        for e in events
        if isinstance(e, AnomalyEvent) and e.lasted_s is not None
    ]


def test_an_anomaly_lasting_one_escalation_period_goes_up_exactly_one_level() -> None:
    engine = _engine()
    events = engine.process_batch(_batch([94.0] * 20))  # 19 minutes past the limit
    assert _published(events) == [(0, Severity.LOW), (10, Severity.MEDIUM)]


def test_each_further_period_raises_one_more_level_but_duration_never_makes_it_critical() -> None:
    engine = _engine()
    events = engine.process_batch(_batch([94.0] * 45))
    assert _published(events) == [(0, Severity.LOW), (10, Severity.MEDIUM), (20, Severity.HIGH)]


def test_escalation_counts_from_the_worst_severity_the_samples_showed() -> None:
    engine = _engine(HardLimit(metric=METRIC, above=97, severity="medium"))
    values = [94.0] * 3 + [98.0] + [94.0] * 16  # medium at minute 3, then back to low
    events = engine.process_batch(_batch(values))
    assert _published(events) == [(0, Severity.LOW), (3, Severity.MEDIUM), (10, Severity.HIGH)]


def test_a_critical_anomaly_stays_critical_however_long_it_lasts() -> None:
    engine = _engine(HardLimit(metric=METRIC, above=95, severity="critical"))
    events = engine.process_batch(_batch([96.0] * 40))
    assert _published(events) == [(0, Severity.CRITICAL)]


def test_escalation_resumes_where_it_was_after_a_restart() -> None:
    first = _engine()
    before = first.process_batch(_batch([94.0] * 15))
    saved = [(k, json.loads(json.dumps(v))) for k, v in first.take_dirty().items()]
    restarted = _engine()
    assert restarted.restore(saved) == 1
    after = restarted.process_batch(_batch([94.0] * 30, offset=15))
    assert _published(before) == [(0, Severity.LOW), (10, Severity.MEDIUM)]
    assert _published(after) == [(20, Severity.HIGH)]


def test_an_episode_saved_before_escalation_tracked_its_samples_still_loads() -> None:
    first = _engine()
    first.process_batch(_batch([94.0] * 5))
    saved = [(k, json.loads(json.dumps(v))) for k, v in first.take_dirty().items()]
    for _, state in saved:
        state["e"] = state["e"][:4]  # the older four-field episode
    restarted = _engine()
    assert restarted.restore(saved) == 1
    after = restarted.process_batch(_batch([94.0] * 10, offset=5))
    assert _published(after) == [(10, Severity.MEDIUM)]
