"""The level judged against what is usual at this hour, on a series with a daily cycle.

A nightly batch job lifts a metric from 20 to 80 every night at 02:00 for four hours
(five-minute samples). The night it does not run, the metric stays at 20: the level the
recent hours had, a level seen at every hour of the day before, and well inside everything
seen so far. Only the hour's usual level tells that something is wrong.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.detector.scoring.detector import SeriesDetector
from services.detector.scoring.result import ScoreResult
from services.detector.scoring.seasonal import DAILY

MIDNIGHT = 1_704_067_200.0  # 2024-01-01 00:00 UTC
STEP = 300.0
PER_DAY = 288
PER_HOUR = 12


def nightly_job(days: int, seed: int) -> npt.NDArray[np.float64]:
    t = np.arange(days * PER_DAY)
    hour = (t % PER_DAY) / PER_HOUR
    level = np.where((hour >= 2.0) & (hour < 6.0), 80.0, 20.0)
    return level + 1.0 * np.random.default_rng(seed).standard_normal(len(t))


def run(values: npt.NDArray[np.float64]) -> tuple[SeriesDetector, list[ScoreResult]]:
    det = SeriesDetector()
    return det, [det.update(MIDNIGHT + i * STEP, float(v)) for i, v in enumerate(values)]


def test_a_nightly_jump_that_does_not_come_is_anomalous() -> None:
    values = nightly_job(12, seed=3)
    night = 10 * PER_DAY
    job = slice(night + 2 * PER_HOUR, night + 6 * PER_HOUR)
    values[job] = 20.0 + np.random.default_rng(8).standard_normal(4 * PER_HOUR)
    det, res = run(values)
    assert det.season.mode == DAILY
    first = next((i for i in range(job.start, job.stop) if res[i].is_anomaly), None)
    assert first is not None, "no alarm while the nightly job did not run"
    assert first - job.start <= PER_HOUR, "found within the hour"
    assert "level_shift" in res[first].detectors
    assert res[first].expected_low > 40.0, "the expected range quoted is the hour's"


def test_the_nightly_jump_itself_stays_quiet() -> None:
    _, res = run(nightly_job(12, seed=4))
    alarms = [i for i in range(4 * PER_DAY, len(res)) if res[i].is_anomaly]
    assert alarms == []
