"""After an alarm a series stays quiet, and its alarm bar stays raised, for as long in time
however fast it is sampled.

The quiet period (``refractory_samples``) and the bar's memory (``alarm_bar_memory``) count
alarm periods of ``alarm_period_s``: a sample of a series sampled every 15 s is a twentieth
of one. Counted in samples, 100 samples were 8 hours at 5 minutes but 25 minutes at 15 s, and
one sustained incident on a Prometheus-scraped series paged again every 25 minutes.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.detector import SeriesDetector
from shared.events import AnomalyEvent

START = 1_796_000_400.0
HOUR = 3600.0


def noise(samples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [40.0 + rng.gauss(0.0, 1.0) for _ in range(samples)]


def with_recurring_spikes(
    interval: float, seed: int, lead_hours: float = 12.0
) -> tuple[list[float], int, int]:
    """``lead_hours`` of noise, then two hours in which one sample in twenty spikes 10-20
    standard deviations high (a flapping dependency), then an hour of noise again; also the
    incident's first and last sample."""
    start, end = int(lead_hours * HOUR / interval), int((lead_hours + 2) * HOUR / interval)
    values = noise(end + int(HOUR / interval), seed)
    rng = random.Random(seed + 100)
    for i in range(start, end):
        if rng.random() < 0.05:
            values[i] += 10.0 + 10.0 * rng.random()
    return values, start, end


def test_two_hours_of_recurring_spikes_on_a_15_s_series_alarm_once() -> None:
    for seed in (0, 1):
        values, start, end = with_recurring_spikes(15.0, seed)
        det = SeriesDetector()
        alarms = [
            i
            for i, v in enumerate(values)
            if det.update(START + i * 15.0, v).is_anomaly and i >= start
        ]
        # Counted in samples the quiet period ended after 25 minutes: 3-4 alarms each.
        assert len(alarms) == 1, alarms
        assert alarms[0] < end


def test_a_15_s_series_stays_quiet_after_an_alarm_as_long_as_a_5_minute_one() -> None:
    for interval in (15.0, 300.0):
        per_hour = round(HOUR / interval)
        first = max(12 * per_hour, 300)  # after the warm-up and a few hours of history
        values = noise(first, seed=4)
        again, much_later = first + 4 * per_hour, first + 9 * per_hour
        values += noise(much_later + 1 - len(values), seed=5)
        for i in (first, again, much_later):
            values[i] = 55.0  # fifteen standard deviations high
        det = SeriesDetector()
        results = [det.update(START + i * interval, v) for i, v in enumerate(values)]
        assert results[first].is_anomaly
        # Four hours later the same spike is muted (an 8-hour quiet period at both)...
        assert results[again].suppressed and not results[again].is_anomaly
        # ... and nine hours later it pages again.
        assert results[much_later].is_anomaly


def test_recurring_spikes_on_a_15_s_series_page_once_through_the_engine() -> None:
    for seed in (0, 1):
        values, start, _ = with_recurring_spikes(15.0, seed)
        engine = DetectionEngine(max_future_s=None)
        pages = []
        for i, v in enumerate(values):
            stamp = datetime.fromtimestamp(START + i * 15.0, UTC)
            event = engine.step("api-1", "latency_p99_ms", stamp, v, "test").event
            if isinstance(event, AnomalyEvent) and i >= start:
                pages.append(event)
        # One anomaly for the incident, not one every 25 minutes.
        assert len({page.event_id for page in pages}) == 1, [p.observed_at for p in pages]


def run_past_the_first_alarm(
    det: SeriesDetector, values: list[float], interval: float, after: int
) -> int:
    """Feed ``values`` until ``after`` samples past the first alarm; the next sample's index."""
    for i, v in enumerate(values):
        if det.update(START + i * interval, v).is_anomaly:
            for k in range(i + 1, i + 1 + after):
                det.update(START + k * interval, values[k])
            return i + 1 + after
    raise AssertionError("no alarm")


def test_a_quiet_period_counted_in_periods_survives_a_checkpoint() -> None:
    values, _, _ = with_recurring_spikes(15.0, seed=0)
    det = SeriesDetector()
    cut = run_past_the_first_alarm(det, values, 15.0, after=100)
    assert det.refractory_left == pytest.approx(95.0)  # a hundred samples are five 5-minute periods
    twin = SeriesDetector.from_state(json.loads(json.dumps(det.to_state())))
    for i, v in enumerate(values[cut:], start=cut):
        assert twin.update(START + i * 15.0, v) == det.update(START + i * 15.0, v)


def test_a_checkpoint_counting_the_quiet_period_in_samples_still_loads() -> None:
    values, _, _ = with_recurring_spikes(300.0, seed=0, lead_hours=48.0)
    det = SeriesDetector()
    cut = run_past_the_first_alarm(det, values, 300.0, after=20)
    state = json.loads(json.dumps(det.to_state()))
    assert state["refr"][0] == 80 and isinstance(state["refr"][0], int)  # as ever written
    twin = SeriesDetector.from_state(state)
    for i, v in enumerate(values[cut:], start=cut):
        assert twin.update(START + i * 300.0, v) == det.update(START + i * 300.0, v)


def test_a_5_minute_series_with_a_few_shorter_intervals_counts_its_quiet_period_in_samples() -> (
    None
):
    # Like NAB's traffic sensors: 5-minute samples, now and then one a minute after the
    # last, which pulls the typical interval down to ~260 s for a while.
    values = noise(660, seed=7)
    values[600] = 55.0
    stamps, t = [], START
    for i in range(len(values)):
        t += 60.0 if i % 97 == 0 or i == 601 else 300.0
        stamps.append(t)
    det = SeriesDetector()
    results = [det.update(ts, v) for ts, v in zip(stamps, values, strict=True)]
    assert results[600].is_anomaly
    assert det.dt_typical < 290.0
    assert det.refractory_left == 100 - (len(values) - 601)  # whole samples, as ever


def test_an_incident_on_a_15_s_series_stays_open_while_it_flaps_and_resolves_after_it() -> None:
    """An episode resolves after as many 5-minute periods of normal samples as a 5-minute
    series needs samples (three: 15 minutes), not after three samples (45 s at 15 s), which
    closed it between two spikes of the same incident."""
    interval = 15.0
    start, end = int(12 * HOUR / interval), int(14 * HOUR / interval)
    values = noise(end + int(HOUR / interval), seed=3)
    for i in range(start, end, 10):  # a spike every 2.5 minutes for two hours
        values[i] += 15.0
    engine = DetectionEngine(max_future_s=None)
    opened: list[int] = []
    resolved: list[int] = []
    for i, v in enumerate(values):
        stamp = datetime.fromtimestamp(START + i * interval, UTC)
        event = engine.step("api-1", "latency_p99_ms", stamp, v, "test").event
        if i < start or event is None:
            continue
        (opened if isinstance(event, AnomalyEvent) else resolved).append(i)
    assert opened and opened[0] < start + 10
    assert len(resolved) == 1, resolved  # not once between every two spikes
    assert end <= resolved[0] <= end + 90  # 15 minutes (60 samples) after the last spike
