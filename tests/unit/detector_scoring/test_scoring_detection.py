"""Detection behaviour of the streaming scorer on synthetic series.

Each case injects one kind of incident into an otherwise normal series and states how
many samples after the onset the first alarm must come. The bounds are generous
versions of what the default configuration achieves (see EXPERIMENTS.md), so that a
regression - not a harmless tweak - fails them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import SeriesDetector
from services.detector.scoring.result import ScoreResult

T0 = 1_700_006_400.0  # a UTC midnight
STEP = 300.0  # five-minute samples
ONSET = 2000  # incidents start here (well after warm-up)
PER_DAY = 288


def run(values: npt.NDArray[np.float64], config: DetectorConfig | None = None) -> list[ScoreResult]:
    det = SeriesDetector(config)
    return [det.update(T0 + i * STEP, float(v)) for i, v in enumerate(values)]


def delay(results: list[ScoreResult], onset: int) -> int | None:
    """Samples from ``onset`` to the first alarm at or after it (None: never)."""
    for i in range(onset, len(results)):
        if results[i].is_anomaly:
            return i - onset
    return None


def alarms(results: list[ScoreResult], stop: int | None = None) -> int:
    return sum(r.is_anomaly for r in results[:stop])


def noise(seed: int, n: int = 3000, sd: float = 5.0) -> npt.NDArray[np.float64]:
    return 100.0 + sd * np.random.default_rng(seed).standard_normal(n)


def test_spike_detected_immediately() -> None:
    values = noise(1)
    values[ONSET] += 12 * 5.0
    res = run(values)
    assert delay(res, ONSET) == 0
    assert res[ONSET].score >= 0.9
    assert "out_of_range" in res[ONSET].detectors or "spike" in res[ONSET].detectors


def test_level_shift_detected_within_5_samples() -> None:
    values = noise(2)
    values[ONSET:] += 5 * 5.0
    d = delay(run(values), ONSET)
    assert d is not None and d <= 5


def test_slow_leak_detected_within_150_samples() -> None:
    # A gradual ramp of 0.02 standard deviations per sample (a memory leak).
    values = noise(3)
    values[ONSET:] += 0.1 * np.arange(len(values) - ONSET)
    d = delay(run(values), ONSET)
    assert d is not None and d <= 150


def test_variance_change_detected_within_50_samples() -> None:
    values = noise(4)
    rng = np.random.default_rng(40)
    values[ONSET:] = 100.0 + 20.0 * rng.standard_normal(len(values) - ONSET)
    d = delay(run(values), ONSET)
    assert d is not None and d <= 50


def test_stuck_value_detected_within_25_samples() -> None:
    # A sensor that freezes: the last value repeats although the series was noisy.
    values = noise(11)
    values[ONSET:] = values[ONSET]
    res = run(values)
    d = delay(res, ONSET)
    assert d is not None and d <= 25
    assert "stuck" in res[ONSET + d].detectors


def _daily(t: npt.NDArray[np.int64], peak_hour: float) -> npt.NDArray[np.float64]:
    hour = (t % PER_DAY) / 12.0
    return 50.0 + 40.0 * np.exp(-0.5 * ((hour - peak_hour) / 2.0) ** 2)


def test_seasonal_peak_shift_detected_within_100_samples() -> None:
    # A daily peak at 14:00 for 12 days, then one day peaks at 04:00 instead: every
    # value of that day lies inside the normal range, only the time of day is wrong.
    rng = np.random.default_rng(5)
    t = np.arange(PER_DAY * 14)
    values = _daily(t, 14.0) + 2.0 * rng.standard_normal(len(t))
    onset = PER_DAY * 12
    values[onset : onset + PER_DAY] = _daily(
        t[onset : onset + PER_DAY], 4.0
    ) + 2.0 * rng.standard_normal(PER_DAY)
    res = run(values)
    d = delay(res, onset)
    assert d is not None and d <= 100
    assert alarms(res, onset) <= 2


def test_noisy_normal_series_has_few_false_alarms() -> None:
    res = run(noise(6, n=10_000))
    assert alarms(res) <= 10


def test_heavy_tailed_normal_series_has_few_false_alarms() -> None:
    values = 100.0 + 5.0 * np.random.default_rng(7).standard_t(5, 10_000)
    assert alarms(run(values)) <= 20


def test_no_alarm_during_warm_up() -> None:
    values = noise(8, n=400)
    values[50] += 1000.0
    res = run(values, DetectorConfig(warmup_samples=100))
    assert all(r.warming_up for r in res[:100])
    assert not any(r.is_anomaly for r in res[:100])
    assert not res[150].warming_up


def test_scores_are_probabilities_and_alarm_matches_threshold() -> None:
    values = noise(9)
    values[ONSET] += 200.0
    cfg = DetectorConfig()
    for r in run(values, cfg):
        assert 0.0 <= r.score <= 1.0
        assert r.is_anomaly == (r.score >= cfg.alarm_threshold)


def test_expected_band_contains_typical_values() -> None:
    res = run(noise(10))
    inside = sum(r.expected_low <= 100.0 <= r.expected_high for r in res[200:])
    assert inside == len(res) - 200
