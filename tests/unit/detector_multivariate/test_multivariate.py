"""The multivariate model on synthetic resources whose CPU and memory move together.

Figures printed here (run with ``-s``) are the ones quoted in the hand-over: false positive
rate on fresh normal vectors, detection of correlation breaks, batch scoring cost.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from services.detector.multivariate import (
    FeatureMismatchError,
    ModelFormatError,
    MultivariateModel,
    NotEnoughDataError,
)
from services.detector.multivariate_live import Flagged, MultivariateScorer, ResourceFeatures

Array = npt.NDArray[np.float64]
METRICS = (
    "cpu_utilization",
    "memory_utilization",
    "disk_used_percent",
    "network_in_bytes",
    "network_out_bytes",
    "response_time_ms",
    "error_rate",
)
CPU, MEM, RT = 0, 1, 5


def normal_rows(rng: np.random.Generator, n: int) -> Array:
    """CPU and memory follow one shared load (r ~ 0.97); the rest are independent, some
    heavy-tailed (network bytes), some mostly zero (error rate)."""
    load = rng.standard_normal(n)
    return np.column_stack(
        [
            50 + 15 * load + 3 * rng.standard_normal(n),
            60 + 12 * load + 2.5 * rng.standard_normal(n),
            40 + 5 * rng.standard_normal(n),
            rng.lognormal(10, 0.5, n),
            rng.lognormal(9, 0.5, n),
            rng.gamma(4, 30, n),
            np.where(rng.random(n) < 0.9, 0.0, rng.exponential(0.01, n)),
        ]
    )


def correlation_breaks(rng: np.random.Generator, n: int) -> Array:
    """CPU about one load-sd above its median, memory about one below: each ordinary alone."""
    rows = normal_rows(rng, n)
    rows[:, CPU] = 50 + 15 * rng.uniform(0.8, 1.2, n)
    rows[:, MEM] = 60 - 12 * rng.uniform(0.8, 1.2, n)
    return rows


@pytest.fixture(scope="module")
def training() -> Array:
    return normal_rows(np.random.default_rng(1), 5000)


@pytest.fixture(scope="module")
def model(training: Array) -> MultivariateModel:
    return MultivariateModel.train(training, METRICS, random_state=0)


def test_correlation_break_is_flagged_although_each_metric_is_normal(
    model: MultivariateModel, training: Array
) -> None:
    breaks = correlation_breaks(np.random.default_rng(2), 1000)
    low, high = np.percentile(training, [1, 99], axis=0)
    assert ((breaks[:, :2] > low[:2]) & (breaks[:, :2] < high[:2])).all()
    scores = model.score_batch(breaks)
    detected = float(np.mean(scores >= 0.99))
    print(
        f"\ncorrelation breaks flagged at 0.99: {detected:.1%} (median score {np.median(scores)})"
    )
    assert detected >= 0.95
    consistent = breaks.copy()  # the same CPU with the memory its load implies: normal
    consistent[:, MEM] = 60 + 12 * (breaks[:, CPU] - 50) / 15
    assert float(np.mean(model.score_batch(consistent) >= 0.99)) <= 0.03
    assert {tuple(sorted(model.explain(row))) for row in breaks[:50]} == {
        ("cpu_utilization", "memory_utilization")
    }


def test_normal_vectors_are_mostly_below_threshold(model: MultivariateModel) -> None:
    scores = model.score_batch(normal_rows(np.random.default_rng(3), 10_000))
    fp_rate = float(np.mean(scores >= 0.99))
    meta = model.metadata
    print(f"\nfalse positives at 0.99 on fresh normal vectors: {fp_rate:.2%}; holdout {meta}")
    assert fp_rate <= 0.02
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert meta["n_holdout"] == 1000 and meta["n_train"] == 4000
    assert meta["holdout_fraction_above"] <= 0.03
    assert 0.4 <= meta["holdout_mean_score"] <= 0.6


def test_a_lone_spike_names_its_metric(model: MultivariateModel) -> None:
    row = normal_rows(np.random.default_rng(4), 1)[0]
    row[RT] = 900.0  # beyond anything in training
    assert model.score_batch(row[None, :])[0] == 1.0
    assert model.explain(row)[0] == "response_time_ms"


def test_a_missing_metric_is_imputed_from_the_others(model: MultivariateModel) -> None:
    """A busy host (CPU and memory both high, as they should be) with memory not reported:
    the imputed memory follows CPU, so the vector is not a correlation break."""
    rows = normal_rows(np.random.default_rng(5), 200)
    rows[:, CPU] = 50 + 15 * 1.5
    rows[:, MEM] = np.nan
    scores = model.score_batch(rows)
    assert float(np.mean(scores >= 0.99)) <= 0.05
    assert "memory_utilization" not in model.explain(rows[0], top_k=7)


def test_batch_scoring_cost(model: MultivariateModel) -> None:
    x = normal_rows(np.random.default_rng(6), 10_000)
    model.score_batch(x[:100])  # warm up
    start = time.perf_counter()
    scores = model.score_batch(x)
    elapsed = time.perf_counter() - start
    one = time.perf_counter()
    model.score_batch(x[:1])
    single = time.perf_counter() - one
    print(
        f"\nbatch of 10,000: {elapsed * 1e6 / len(x):.1f} us/sample; one sample alone: "
        f"{single * 1e3:.2f} ms"
    )
    assert scores.shape == (10_000,)


def test_training_is_reproducible_and_checks_its_input(training: Array) -> None:
    a = MultivariateModel.train(training[:600], METRICS, random_state=7, n_estimators=20)
    b = MultivariateModel.train(training[:600], METRICS, random_state=7, n_estimators=20)
    assert np.array_equal(a.score_batch(training[:50]), b.score_batch(training[:50]))
    with pytest.raises(NotEnoughDataError):
        MultivariateModel.train(training[:10], METRICS, random_state=0)
    with pytest.raises(NotEnoughDataError):
        bad = training[:600].copy()
        bad[3, 2] = np.nan
        MultivariateModel.train(bad, METRICS, random_state=0)
    with pytest.raises(FeatureMismatchError):
        MultivariateModel.train(training[:600], METRICS[:-1], random_state=0)
    with pytest.raises(FeatureMismatchError):
        a.score_batch(training[:5, :3])


def test_state_round_trip_and_validation(model: MultivariateModel, training: Array) -> None:
    state = model.to_state()
    again = MultivariateModel.from_state(state)
    assert np.array_equal(again.score_batch(training[:100]), model.score_batch(training[:100]))
    state["arrays"] = {**state["arrays"], "precision": np.eye(3)}
    with pytest.raises(ModelFormatError):
        MultivariateModel.from_state(state)
    with pytest.raises(ModelFormatError):
        MultivariateModel.from_state({"format": 1})


def test_resource_features_freshness_and_filtering() -> None:
    feats = ResourceFeatures(METRICS, min_metrics=3, max_age_s=60.0)
    assert feats.update("i-1", "cpu_utilization", 100.0, 50.0)
    assert not feats.update("i-1", "not_a_metric", 100.0, 1.0)
    assert not feats.update("i-1", "memory_utilization", 100.0, float("nan"))
    assert feats.update("i-1", "memory_utilization", 100.0, 60.0)
    assert feats.vector("i-1") is None  # two metrics only
    assert feats.update("i-1", "disk_used_percent", 130.0, 40.0)
    assert not feats.update("i-1", "disk_used_percent", 120.0, 99.0)  # older: ignored
    vec = feats.vector("i-1")
    assert vec is not None
    assert vec[:3].tolist() == [50.0, 60.0, 40.0] and np.isnan(vec[3:]).all()
    assert feats.vector("i-1", now=170.0) is None  # CPU and memory are now stale
    assert feats.vector("unknown") is None
    assert feats.evict_stale(now=1000.0) == 1 and len(feats) == 0


def test_scorer_flushes_changed_resources_together(model: MultivariateModel) -> None:
    rng = np.random.default_rng(8)
    scorer = MultivariateScorer(model, ResourceFeatures(METRICS, min_metrics=5, max_age_s=120))
    rows = {f"i-{k}": row for k, row in enumerate(normal_rows(rng, 20))}
    rows["i-bad"] = correlation_breaks(rng, 1)[0]
    for resource, row in rows.items():
        for metric, value in zip(METRICS, row, strict=True):
            scorer.update(resource, metric, 1000.0, float(value))
    scorer.update("i-sparse", "cpu_utilization", 1000.0, 99.0)  # too few metrics: skipped
    assert scorer.pending == 22
    flagged = scorer.flush()
    assert scorer.pending == 0 and scorer.flush() == []
    assert [f.resource_id for f in flagged] == ["i-bad"]
    assert isinstance(flagged[0], Flagged) and flagged[0].score >= 0.99
    assert set(flagged[0].metrics) == {"cpu_utilization", "memory_utilization"}
    with pytest.raises(FeatureMismatchError):
        MultivariateScorer(model, ResourceFeatures(METRICS[:3], min_metrics=2, max_age_s=60))
