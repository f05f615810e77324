"""The context memory's forgetting on series sampled every few seconds.

The memory halves its counts every few thousand samples, so that contexts a series no
longer produces are forgotten. Counted in samples alone, that is every 5000 x 5 minutes
(17 days) for a series sampled every 5 minutes, but every 83 minutes for one sampled every
second: the rarer level pairs of plain noise, seen once since the last halving, were
forgotten again and again and came back as "never seen" - a novelty alarm every few hours
on a series with no incident at all.
"""

from __future__ import annotations

import json
import random

from services.detector.scoring.detector import SeriesDetector

START = 1_796_000_400.0  # a whole hour, UTC


def noise(samples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [40.0 + rng.gauss(0.0, 1.0) for _ in range(samples)]


def novelty_alarms(values: list[float], interval: float) -> int:
    det = SeriesDetector()
    found = 0
    for i, value in enumerate(values):
        result = det.update(START + i * interval, value)
        if result.is_anomaly and "novelty" in result.detectors:
            found += 1
    return found


def test_noise_sampled_every_second_raises_no_novelty_alarm_in_six_hours() -> None:
    # 21,600 samples: four halvings of the memory if they were counted in samples alone.
    alarms = [novelty_alarms(noise(6 * 3600, seed), 1.0) for seed in range(6)]
    assert alarms == [0] * 6


def test_a_detector_restored_while_its_memory_waits_to_halve_scores_like_the_original() -> None:
    # Sampled every second, the memory is past its 5000 samples long before a halving is due.
    values = noise(9000, 3)
    det = SeriesDetector()
    for i, value in enumerate(values[:6000]):
        det.update(START + i, value)
    twin = SeriesDetector.from_state(json.loads(json.dumps(det.to_state())))
    for i, value in enumerate(values[6000:], start=6000):
        assert twin.update(START + i, value) == det.update(START + i, value)
