"""The seasonal context on series younger than a day, or sampled faster than its memory lasts.

"A level never seen at this hour of the day" means something only once the series has been
seen at that hour before. A series sampled every few seconds warms up within one hour of the
day; every later hour is then a first visit, novel whatever the values. The series below have
no daily pattern and no incident: crossing into a new hour must not raise a seasonal alarm.
"""

from __future__ import annotations

import random

from services.detector.scoring.detector import SeriesDetector

FULL_HOUR = 1_796_000_400.0  # a whole hour, UTC


def seasonal_alarms(values: list[float], start: float, interval: float) -> list[float]:
    """Seconds after ``FULL_HOUR`` of every alarm the seasonal context raised."""
    det = SeriesDetector()
    found = []
    for i, value in enumerate(values):
        ts = start + i * interval
        result = det.update(ts, value)
        if result.is_anomaly and "seasonal" in result.detectors:
            found.append(ts - FULL_HOUR)
    return found


def noise(samples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [40.0 + rng.gauss(0.0, 1.0) for _ in range(samples)]


def test_a_repeating_cycle_sampled_every_second_does_not_alarm_at_the_next_hour() -> None:
    # Sixteen fixed values in turn, one a second, from ten minutes before a full hour: the
    # benchmark's load generator sends such series.
    for seed in range(20):
        rng = random.Random(seed)
        cycle = [40.0 + 5.0 * rng.random() + rng.gauss(0.0, 1.0) for _ in range(16)]
        values = [cycle[i % 16] for i in range(900)]
        assert seasonal_alarms(values, FULL_HOUR - 600.0, 1.0) == [], f"seed {seed}"


def test_noise_sampled_every_ten_seconds_raises_no_seasonal_alarm_in_its_first_day() -> None:
    for seed in range(5):
        assert seasonal_alarms(noise(8640, seed), FULL_HOUR - 1800.0, 10.0) == [], f"seed {seed}"


def test_noise_sampled_every_second_raises_no_seasonal_alarm_hour_after_hour() -> None:
    for seed in range(3):
        assert seasonal_alarms(noise(6 * 3600, seed), FULL_HOUR - 600.0, 1.0) == [], f"seed {seed}"
