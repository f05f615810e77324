"""A series silent for ``SCOPS_FORGET_AFTER_S`` while others kept sending (a pod replaced by a
deploy, a terminated instance) is forgotten: memory stays bounded under churn. One with an
anomaly open is kept, nothing is forgotten when every series stops, and one that returns
starts afresh."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY

from services.detector.config import DetectorSettings
from services.detector.detection_engine import DetectionEngine
from services.detector.model_manager import ModelManager, MultivariateOptions
from services.detector.multivariate import MultivariateModel
from services.detector.multivariate_live import MultivariateScorer, ResourceFeatures
from services.detector.wiring import StateFreezer, forget_silent
from shared.events import MetricBatch, MetricSample
from tests.support.forgetting import forget_all
from tests.unit.test_silent_series import HOUR, START, at, open_anomaly

DAY = 24 * HOUR


def send(engine: DetectionEngine, resource: str, seconds: float, metric: str = "mem") -> None:
    sample = MetricSample(
        resource_id=resource,
        metric=metric,
        value=40.0,
        timestamp=START + timedelta(seconds=seconds),
    )
    engine.process_batch(MetricBatch(samples=[sample], correlation_id="c"))


def minutely(engine: DetectionEngine, resource: str, minutes: int, metric: str = "mem") -> None:
    for minute in range(minutes):
        send(engine, resource, minute * 60.0, metric)


def test_a_series_silent_long_enough_is_forgotten_and_queued_for_deletion() -> None:
    engine = DetectionEngine(max_future_s=None)
    minutely(engine, "pod-old", 30, metric="disk")  # its own metric: the table goes with it
    minutely(engine, "pod-old", 30)
    last = 29 * 60.0
    send(engine, "pod-new", last + DAY - 1)
    assert forget_all(engine, DAY) == 0  # not silent long enough yet
    send(engine, "pod-new", last + DAY + 1)
    assert forget_all(engine, DAY) == 2
    assert set(engine.series) == {("pod-new", "mem")}
    assert len(engine.series) == 1
    assert "disk" not in engine.series.by_metric
    assert engine.forgotten == {("pod-old", "disk"), ("pod-old", "mem")}
    assert engine.series_forgotten == 2
    assert forget_all(engine, DAY) == 0  # forgotten once


def test_a_series_with_an_anomaly_open_is_kept_until_it_is_closed() -> None:
    engine = DetectionEngine(max_future_s=None)
    open_anomaly(engine, "web-1")
    at(engine, "web-2", 401 * 60.0 + 2 * DAY)
    assert forget_all(engine, DAY) == 0
    assert ("web-1", "cpu_utilization") in engine.series
    assert len(engine.close_silent(HOUR)) == 1
    assert forget_all(engine, DAY) == 1
    assert ("web-1", "cpu_utilization") not in engine.series
    assert engine.open_episodes == set()


def test_nothing_is_forgotten_while_no_series_sends() -> None:
    """Ingestion stopped for longer than the setting: silence is measured on the stream's
    clock, not the wall's, so every series is kept."""
    wall = [START.timestamp() + 30 * 60.0]
    engine = DetectionEngine(clock=lambda: wall[0])
    minutely(engine, "web-1", 30)
    minutely(engine, "web-2", 30)
    wall[0] += 60 * DAY
    assert forget_all(engine, DAY) == 0
    assert len(engine.series) == 2


def test_a_series_sampled_rarely_is_given_ten_of_its_intervals() -> None:
    engine = DetectionEngine(max_future_s=None)
    for hour in range(5):
        send(engine, "daily-job", hour * 6 * HOUR)  # every six hours
    last = 4 * 6 * HOUR
    send(engine, "web-2", last + 59 * HOUR)  # past the setting, within ten intervals
    assert forget_all(engine, 2 * HOUR) == 0
    send(engine, "web-2", last + 60 * HOUR + 1)
    assert forget_all(engine, 2 * HOUR) == 1
    assert set(engine.series) == {("web-2", "mem")}


def test_a_series_that_returns_after_being_forgotten_starts_afresh() -> None:
    engine = DetectionEngine.with_warmup(10, max_future_s=None)
    minutely(engine, "pod-1", 30)
    state = engine.series[("pod-1", "mem")]
    state.feedback.true_positive()
    send(engine, "pod-2", DAY * 2)
    assert forget_all(engine, DAY) == 1
    send(engine, "pod-1", DAY * 2 + 60)
    returned = engine.series[("pod-1", "mem")]
    assert returned is not state
    assert returned.detector.n == 1  # warming up again
    assert returned._feedback is None
    assert ("pod-1", "mem") in engine.dirty  # its new state is saved by the next checkpoint


def test_a_forgotten_series_marked_changed_is_not_taken_for_the_checkpoint() -> None:
    engine = DetectionEngine(max_future_s=None)
    minutely(engine, "pod-1", 30)
    send(engine, "pod-2", DAY * 2)
    assert len(engine.dirty) == 2  # both changed, not yet saved
    assert forget_all(engine, DAY) == 1
    assert list(engine.take_dirty()) == [("pod-2", "mem")]


def test_the_walk_goes_in_slices_while_batches_add_and_change_series() -> None:
    """Series filed between two slices (new metrics too) are walked as well; the dicts the
    batches change are never walked by the sweep, so nothing breaks."""
    engine = DetectionEngine(max_future_s=None)
    for i in range(20):
        send(engine, f"old-{i}", 0.0)
    send(engine, "fresh-0", 2 * DAY)
    slices = 0
    forgotten = 0
    while True:
        forgetting = engine.forget_silent(DAY, limit=3)
        forgotten += forgetting.forgotten
        slices += 1
        if forgetting.done:
            break
        send(engine, f"fresh-{slices}", 2 * DAY + slices, metric=f"metric-{slices % 3}")
        send(engine, "old-19", 2 * DAY + slices)  # one comes back before the walk reaches it
    assert slices >= 8
    assert forgotten == 19
    kept = {key for key in engine.series if key[0].startswith("old")}
    assert kept == {("old-19", "mem")}
    assert len(engine.series) == len(list(engine.series.states())) == 1 + slices
    assert forget_all(engine, DAY) == 0
    assert len(engine.series._order) == len(engine.series)  # the walk forgot its dead too


def test_a_restore_over_a_live_series_leaves_the_walk_right() -> None:
    engine = DetectionEngine(max_future_s=None)
    minutely(engine, "pod-1", 30)
    saved = engine.take_dirty()
    engine.restore(saved.items())  # the same series filed again: a new state
    send(engine, "pod-2", DAY * 2)
    assert forget_all(engine, DAY) == 1
    assert set(engine.series) == {("pod-2", "mem")}
    assert len(engine.series._order) == 1


async def test_a_sweep_lets_the_loop_run_and_counts_what_it_forgot(tmp_path: Path) -> None:
    engine = DetectionEngine(max_future_s=None)
    for i in range(50):
        send(engine, f"pod-{i}", 0.0)
    send(engine, "still", 2 * DAY)
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    before = REGISTRY.get_sample_value("ml_series_forgotten_total") or 0.0
    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    try:
        assert await forget_silent(engine, models(tmp_path), DAY, slice_size=10) == 50
    finally:
        other.cancel()
    assert turns >= 5
    assert REGISTRY.get_sample_value("ml_series_forgotten_total") == before + 50
    assert set(engine.series) == {("still", "mem")}


def test_the_setting_defaults_to_thirty_days_and_zero_turns_it_off() -> None:
    assert DetectorSettings().forget_after_s == 30 * DAY
    assert DetectorSettings(forget_after_s=0).forget_after_s == 0


def models(tmp_path: Path) -> ModelManager:
    return ModelManager(tmp_path, MultivariateOptions(metrics=("cpu", "mem")))


async def test_the_multivariate_view_lets_go_of_resources_left_with_no_series(
    tmp_path: Path,
) -> None:
    manager = models(tmp_path)
    rows = np.random.default_rng(1).normal(50, 5, size=(400, 2))
    model = MultivariateModel.train(rows, ("cpu", "mem"), random_state=0)
    features = ResourceFeatures(("cpu", "mem"), min_metrics=2, max_age_s=300)
    manager.scorer = MultivariateScorer(model, features)
    engine = DetectionEngine(max_future_s=None)
    for resource, metric, seconds in [
        ("pod-old", "cpu", 0.0),
        ("pod-old", "mem", 0.0),
        ("pod-half", "cpu", 0.0),
        ("pod-half", "mem", 2 * DAY),  # one series still sending: the resource stays
        ("pod-new", "cpu", 2 * DAY),
    ]:
        send(engine, resource, seconds, metric)
        features.update(resource, metric, START.timestamp() + seconds, 40.0)
    manager._last_flagged["pod-old"] = 0.0

    assert await forget_silent(engine, manager, DAY, slice_size=1) == 3
    assert len(features) == 2
    assert features.vector("pod-old") is None
    assert "pod-old" not in manager._last_flagged


def test_new_series_of_a_churn_held_level_are_still_frozen() -> None:
    """Forgetting holds the number of series level; the series that replace the forgotten
    ones still leave the garbage collector's sight once they are a fifth of those frozen."""
    engine = DetectionEngine(max_future_s=None)
    freezes: list[int] = []
    freeze = StateFreezer(engine, freeze=lambda: freezes.append(len(engine.series)))
    live = [f"pod-{i}" for i in range(10)]

    def minutes(start: float) -> None:
        for minute in range(3):
            for name in live:
                send(engine, name, start + minute * 60.0)

    minutes(0.0)
    freeze()
    assert freezes == [10]
    for step in range(1, 4):  # one pod replaced at a time: still 10 series
        live = [*live[1:], f"pod-{9 + step}"]
        minutes(step * 2 * DAY)
        assert forget_all(engine, DAY) == 1
        freeze()
        assert len(engine.series) == 10
    assert freezes == [10, 10]  # three new series: more than a fifth of the ten frozen
