"""Bad input never raises, and checkpointed state restores exactly."""

from __future__ import annotations

import base64
import json
import math
import zlib

import numpy as np
import pytest

from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import SeriesDetector
from services.detector.scoring.nab_entry import detect

T0 = 1_700_006_400.0


def feed(det: SeriesDetector, values: list[float], t0: float = T0, step: float = 60.0) -> None:
    for i, v in enumerate(values):
        r = det.update(t0 + i * step, v)
        assert 0.0 <= r.score <= 1.0


def test_nan_and_inf_are_skipped_not_learned() -> None:
    det = SeriesDetector()
    feed(det, [1.0, 2.0, 3.0])
    before = det.to_state()
    for bad in (math.nan, math.inf, -math.inf, 1e300):
        r = det.update(T0 + 500.0, bad)
        assert r.skipped and not r.is_anomaly and r.score == 0.0
    assert det.to_state() == before


def test_non_numeric_input_is_skipped() -> None:
    det = SeriesDetector()
    r = det.update(T0, "oops")  # type: ignore[arg-type]
    assert r.skipped
    r = det.update(math.nan, 1.0)  # bad timestamp: value still scored
    assert not r.skipped


def test_duplicate_delivery_returns_same_result_without_learning() -> None:
    det = SeriesDetector()
    feed(det, [float(i % 7) for i in range(300)])
    last_t = T0 + 299 * 60.0
    first = det.update(last_t + 60.0, 3.0)
    state = det.to_state()
    again = det.update(last_t + 60.0, 3.0)
    assert again == first
    assert det.to_state() == state


def test_duplicate_and_out_of_order_timestamps() -> None:
    det = SeriesDetector()
    rng = np.random.default_rng(0)
    ts = T0 + 60.0 * np.arange(2000)
    ts[500:510] = ts[500]  # same timestamp, different values
    ts[800], ts[801] = ts[801], ts[800]  # swapped
    ts[900] = ts[100]  # far in the past
    for t, v in zip(ts, rng.standard_normal(2000), strict=True):
        r = det.update(float(t), float(v))
        assert 0.0 <= r.score <= 1.0


def test_gap_of_days_restarts_context_without_crashing() -> None:
    det = SeriesDetector()
    values = [math.sin(i / 10.0) for i in range(1000)]
    feed(det, values)
    r = det.update(T0 + 1000 * 60.0 + 5 * 86400.0, values[0])
    assert 0.0 <= r.score <= 1.0
    assert det.memory.filled <= 1  # the sequence context was restarted by the gap


def test_constant_series_never_alarms_and_first_change_does() -> None:
    det = SeriesDetector()
    results = [det.update(T0 + i * 60.0, 42.0) for i in range(5000)]
    assert not any(r.is_anomaly for r in results)
    assert det.update(T0 + 5000 * 60.0, 43.0).is_anomaly


def test_zero_and_huge_constant_series() -> None:
    for level in (0.0, 1e-12, 1e12, -5.0):
        det = SeriesDetector()
        assert not any(det.update(T0 + i, level).is_anomaly for i in range(500))


def test_random_garbage_never_raises() -> None:
    rng = np.random.default_rng(12)
    choices: list[object] = [None, "x", "", math.nan, math.inf, -math.inf, 1e308, -1e-308, 0, 7]
    det = SeriesDetector(DetectorConfig(warmup_samples=20, memory_start_samples=5))
    t = T0
    for i in range(5000):
        t += float(rng.choice([-1e6, -60.0, 0.0, 60.0, 60.0, 60.0, 86400.0 * 3]))
        stamp: object = t if i % 97 else choices[i % len(choices)]
        value: object = float(rng.normal()) if i % 13 else choices[i % len(choices)]
        r = det.update(stamp, value)  # type: ignore[arg-type]
        assert 0.0 <= r.score <= 1.0
    json.dumps(det.to_state(), allow_nan=False)


def test_string_timestamp_and_integer_value_are_accepted() -> None:
    det = SeriesDetector()
    r = det.update("1700000000", 5)  # type: ignore[arg-type]
    assert not r.skipped


def _series(n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 10 * np.sin(2 * np.pi * t / 288) + rng.standard_normal(n)
    x[n // 2] += 40  # an alarm, so the refractory counter is part of the state
    return [float(v) for v in x]


@pytest.mark.parametrize("split", [10, 150, 1600, 2001, 2999])
def test_state_round_trip_gives_identical_scores(split: int) -> None:
    # Splits: warm-up, before the memory grid, steady state, inside the refractory
    # period after the alarm at sample 2000, and while the alarm bar decays.
    values = _series(4000, 1)
    ref = SeriesDetector()
    expected = [ref.update(T0 + i * 300.0, v) for i, v in enumerate(values)]
    assert expected[2000].is_anomaly

    det = SeriesDetector()
    for i, v in enumerate(values[:split]):
        det.update(T0 + i * 300.0, v)
    blob = json.dumps(det.to_state(), allow_nan=False)  # strict JSON, as Redis stores it
    restored = SeriesDetector.from_state(json.loads(blob))
    got = [restored.update(T0 + i * 300.0, v) for i, v in enumerate(values) if i >= split]
    assert got == expected[split:]


def test_state_is_compact() -> None:
    det = SeriesDetector()
    feed(det, _series(3000, 2))
    assert len(json.dumps(det.to_state())) < 4096


def test_state_saved_with_the_default_deflate_level_loads_and_scores_the_same() -> None:
    # Checkpoints written before the counter table was deflated with run-length matching
    # (zlib's default strategy, level 6) stay readable after an upgrade.
    values = _series(3200, 4)
    det = SeriesDetector()
    for i, v in enumerate(values[:3000]):
        det.update(T0 + i * 300.0, v)
    state = det.to_state()
    table = zlib.decompress(base64.b64decode(state["mem"]["tablez"]))
    older = {**state["mem"], "tablez": base64.b64encode(zlib.compress(table, 6)).decode()}
    assert older["tablez"] != state["mem"]["tablez"]
    restored = SeriesDetector.from_state({**state, "mem": older})
    tail = [(T0 + i * 300.0, v) for i, v in enumerate(values) if i >= 3000]
    assert [restored.update(t, v) for t, v in tail] == [det.update(t, v) for t, v in tail]


def test_state_rejects_wrong_version_and_table_size() -> None:
    det = SeriesDetector()
    feed(det, _series(300, 3))
    state = det.to_state()
    with pytest.raises(ValueError):
        SeriesDetector.from_state({**state, "v": 999})
    with pytest.raises(ValueError):
        SeriesDetector.from_state(state, DetectorConfig(memory_slots=64))


def test_config_validation_and_replace() -> None:
    with pytest.raises(ValueError):
        DetectorConfig(alarm_threshold=0.0)
    with pytest.raises(ValueError):
        DetectorConfig(baseline_alpha=2.0)
    weights = [1, 1, 1, 1, 0, 1]
    listed = DetectorConfig(detector_weights=weights)  # type: ignore[arg-type]
    assert listed.detector_weights == (1.0, 1.0, 1.0, 1.0, 0.0, 1.0)
    SeriesDetector(listed).update(T0, 1.0)  # hashable: usable as a cache key
    cfg = DetectorConfig().replace(warmup_samples=10)
    assert cfg.warmup_samples == 10
    assert json.loads(json.dumps(cfg.to_dict()))["warmup_samples"] == 10


def test_nab_entry_runs_the_streaming_detector() -> None:
    values = np.asarray(_series(1500, 4))
    stamps = (
        np.datetime64("2024-01-01T00:00:00") + np.arange(1500) * np.timedelta64(300, "s")
    ).astype("datetime64[s]")
    scores = detect(stamps, values)
    det = SeriesDetector()
    expected = [
        det.update(float(t), v).score for t, v in zip(stamps.astype(np.int64), values, strict=True)
    ]
    assert scores.shape == (1500,)
    assert np.array_equal(scores, np.asarray(expected))
    assert ((scores >= 0) & (scores <= 1)).all()
