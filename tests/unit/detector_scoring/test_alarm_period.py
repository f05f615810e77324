"""The alarm threshold holds per 5-minute period, not per sample.

A series scraped every second gets 300 times the samples of a 5-minute one, so as many more
chances a day for noise to cross a per-sample threshold. Series sampled faster than
``alarm_period_s`` need proportionally stronger evidence; a real incident still pages, and a
series sampled every 5 minutes or slower scores exactly as with a per-sample threshold.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import SeriesDetector
from shared.events import AnomalyEvent

START = 1_796_000_400.0


def alarms(config: DetectorConfig, values: list[float], interval: float) -> list[int]:
    det = SeriesDetector(config)
    return [i for i, v in enumerate(values) if det.update(START + i * interval, v).is_anomaly]


def noise(samples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [40.0 + rng.gauss(0.0, 1.0) for _ in range(samples)]


def test_noise_scraped_every_second_pages_far_less_often_than_per_sample() -> None:
    per_sample = DetectorConfig(alarm_period_s=0.0)
    per_period = DetectorConfig()
    before = after = 0
    for seed in range(4):
        values = noise(6 * 3600, seed)
        before += len(alarms(per_sample, values, 1.0))
        after += len(alarms(per_period, values, 1.0))
    # Six hours of plain noise, four series: a per-sample threshold pages about once an
    # hour and a half per series; per 5-minute period, at most a couple of times in all.
    assert before >= 8
    assert after <= 2


def test_a_real_spike_on_a_one_second_series_still_pages() -> None:
    values = noise(3600, seed=7)
    values[3000] = 52.0  # twelve standard deviations above the baseline
    # Through the engine: the scorer alone also alarms at sample 733, a record of the noise
    # 9 minutes after its warm-up, and mutes the spike 38 minutes later in that alarm's
    # 8-hour quiet period (as it would 8 samples later at 5 minutes); the paging gate holds
    # that record back (not 6 deviations from the baseline), so the spike pages.
    engine = DetectionEngine(max_future_s=None)
    pages = []
    for i, v in enumerate(values):
        event = engine.step("web-1", "cpu", datetime.fromtimestamp(START + i, UTC), v, "t").event
        if isinstance(event, AnomalyEvent):
            pages.append(i)
    assert pages == [3000]


def test_a_step_change_on_a_one_second_series_still_pages() -> None:
    values = noise(3600, seed=8)
    values[3000:] = [v + 8.0 for v in values[3000:]]
    found = alarms(DetectorConfig(), values, 1.0)
    assert any(3000 <= i < 3010 for i in found)


def test_series_sampled_every_five_minutes_or_slower_score_as_per_sample() -> None:
    for interval in (300.0, 3600.0):
        values = noise(3000, seed=3)
        values[2500] = 50.0
        a, b = SeriesDetector(DetectorConfig()), SeriesDetector(DetectorConfig(alarm_period_s=0.0))
        for i, v in enumerate(values):
            ts = START + i * interval
            assert a.update(ts, v) == b.update(ts, v)
