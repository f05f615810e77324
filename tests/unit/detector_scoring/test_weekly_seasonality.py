"""Day-of-week seasonality: recognised from the data, used for the seasonal context and for
the expected range quoted in an anomaly.

The series below is a business service: busy on weekdays with a daytime peak, quiet on
weekends (five-minute samples). A "weekend day" on a Wednesday is normal at every hour of
the day by the hour-of-day view, and only the weekly view can tell it is wrong.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.detector.scoring.detector import SeriesDetector
from services.detector.scoring.result import ScoreResult
from services.detector.scoring.seasonal import DAILY, NONE, WEEKLY, SeasonalProfile, week_bin

MONDAY = 1_704_067_200.0  # 2024-01-01 00:00 UTC, a Monday
STEP = 300.0
PER_DAY = 288
PER_WEEK = 7 * PER_DAY


def business(weeks: int, seed: int) -> npt.NDArray[np.float64]:
    """Weekdays: 20 at night rising to 100 at midday; weekends: flat 20."""
    t = np.arange(weeks * PER_WEEK)
    hour = (t % PER_DAY) / 12.0
    weekday = (t // PER_DAY) % 7
    daytime = np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)
    level = 20.0 + np.where(weekday < 5, 80.0 * daytime, 0.0)
    return level + 2.0 * np.random.default_rng(seed).standard_normal(len(t))


def run(values: npt.NDArray[np.float64]) -> tuple[SeriesDetector, list[ScoreResult]]:
    det = SeriesDetector()
    return det, [det.update(MONDAY + i * STEP, float(v)) for i, v in enumerate(values)]


def test_week_bin_counts_hours_from_monday_midnight_utc() -> None:
    assert week_bin(MONDAY) == 0
    assert week_bin(MONDAY + 3600.0 * 25 + 60.0) == 25  # Tuesday 01:01
    assert week_bin(MONDAY - 1.0) == 167  # Sunday 23:59:59


def test_weekend_normal_day_on_a_wednesday_is_anomalous() -> None:
    values = business(6, seed=1)
    wednesday = 5 * PER_WEEK + 2 * PER_DAY
    values[wednesday : wednesday + PER_DAY] = 20.0 + 2.0 * np.random.default_rng(9).standard_normal(
        PER_DAY
    )
    det, res = run(values)
    assert det.season.mode == WEEKLY
    # Each hour of the quiet Wednesday is one new (level, weekday hour) context; the alarm
    # comes once a few of them have accumulated, within the working day (the day-of-week
    # blind scorer never reaches even half the alarm level that day).
    work = range(wednesday + 8 * 12, wednesday + 18 * 12)
    first = next((i for i in work if res[i].is_anomaly), None)
    assert first is not None, "no alarm during a quiet Wednesday's working hours"
    # found by the weekday's view: a level new at this weekday hour, or far from its usual one
    assert {"seasonal", "level_shift"} & set(res[first].detectors), res[first].detectors


def test_the_same_series_without_the_odd_wednesday_stays_quiet_that_week() -> None:
    _, res = run(business(6, seed=1))
    last_week = res[5 * PER_WEEK :]
    assert sum(r.is_anomaly for r in last_week) <= 1


def test_expected_range_is_what_is_normal_for_this_hour_of_this_weekday() -> None:
    det, res = run(business(5, seed=2))
    assert det.season.mode == WEEKLY
    noon = 12 * 12
    week = 4 * PER_WEEK
    wednesday_noon = res[week + 2 * PER_DAY + noon]
    sunday_noon = res[week + 6 * PER_DAY + noon]
    # Wednesday noon is busy (~100), Sunday noon quiet (~20): each band holds its own day's
    # value and not the other's.
    assert wednesday_noon.expected_low < 100.0 < wednesday_noon.expected_high
    assert sunday_noon.expected_low < 20.0 < sunday_noon.expected_high
    assert not wednesday_noon.expected_low < 20.0
    assert not sunday_noon.expected_high > 100.0 - 20.0


def test_a_series_without_a_weekly_cycle_keeps_the_daily_view() -> None:
    t = np.arange(5 * PER_WEEK)
    hour = (t % PER_DAY) / 12.0
    values = 50.0 + 30.0 * np.sin(2 * np.pi * hour / 24.0)
    values += 2.0 * np.random.default_rng(3).standard_normal(len(t))
    det, res = run(values)
    assert det.season.mode == DAILY
    # the band follows the hour of the day: around 80 at 06:00, around 20 at 18:00
    six, eighteen = res[-PER_DAY + 6 * 12], res[-PER_DAY + 18 * 12]
    assert six.expected_low < 80.0 < six.expected_high
    assert eighteen.expected_low < 20.0 < eighteen.expected_high
    assert six.expected_low > eighteen.expected_high


def test_noise_without_any_cycle_keeps_the_baseline_band() -> None:
    values = 50.0 + 2.0 * np.random.default_rng(4).standard_normal(3 * PER_WEEK)
    det, res = run(values)
    assert det.season.mode == NONE
    assert res[-1].expected_low < 50.0 < res[-1].expected_high


def test_seasonal_profile_survives_a_checkpoint() -> None:
    values = business(3, seed=5)
    det, _ = run(values[: 2 * PER_WEEK + 7])
    restored = SeriesDetector.from_state(det.to_state())
    assert isinstance(restored.season, SeasonalProfile)
    start = 2 * PER_WEEK + 7
    for i, v in enumerate(values[start:], start):
        a = det.update(MONDAY + i * STEP, float(v))
        b = restored.update(MONDAY + i * STEP, float(v))
        assert a == b


def test_an_anomaly_event_quotes_the_range_normal_for_this_weekday_and_hour() -> None:
    """What a page says: on a quiet Wednesday the expected range is a Wednesday's at that
    hour (busy), not the quiet level the day has shown so far, nor a weekend's."""
    from datetime import UTC, datetime

    from services.detector.detection_engine import DetectionEngine
    from shared.events import AnomalyEvent

    values = business(6, seed=1)
    wednesday = 5 * PER_WEEK + 2 * PER_DAY
    quiet = 20.0 + 2.0 * np.random.default_rng(9).standard_normal(PER_DAY)
    values[wednesday : wednesday + PER_DAY] = quiet
    engine = DetectionEngine()
    engine.max_future_s = None  # history
    events: list[tuple[int, AnomalyEvent]] = []
    for i, v in enumerate(values[: wednesday + PER_DAY]):
        stamp = datetime.fromtimestamp(MONDAY + i * STEP, UTC)
        step = engine.step("web-1", "requests", stamp, float(v), "c")
        if i >= wednesday and isinstance(step.event, AnomalyEvent):
            events.append((i, step.event))
    assert events, "the quiet Wednesday raised no anomaly"
    i, event = events[0]
    hour = ((i - wednesday) % PER_DAY) / 12.0
    weekday_level = 20.0 + 80.0 * max(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0)
    assert event.value < event.expected_low
    assert event.expected_low < weekday_level < event.expected_high
    assert {"seasonal", "level_shift"} & set(event.detectors), event.detectors


def test_a_series_saved_before_the_seasonal_profile_loads_and_keeps_scoring() -> None:
    """An upgrade must not make every series warm up again: a checkpoint of the previous
    format (no seasonal profile, a raw count table, no held-back alarm) is still read."""
    import base64
    import zlib

    values = business(1, seed=6)
    det, _ = run(values[:1000])
    state = det.to_state()
    old = {k: v for k, v in state.items() if k != "season"}
    old["v"] = 2
    old["refr"] = state["refr"][:2]
    memory = dict(state["mem"])
    raw = zlib.decompress(base64.b64decode(memory.pop("tablez")))
    memory["table"] = base64.b64encode(raw).decode("ascii")
    old["mem"] = memory
    restored = SeriesDetector.from_state(old)
    assert restored.n == 1000
    assert bytes(restored.memory.table) == bytes(det.memory.table)
    r = restored.update(MONDAY + 1000 * STEP, float(values[1000]))
    assert not r.skipped and not r.warming_up
