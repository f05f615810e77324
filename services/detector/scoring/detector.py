"""Streaming per-series anomaly scorer.

One :class:`SeriesDetector` per metric series. ``update(t, value)`` scores the sample
using only the past, in constant time and constant memory, then learns from it.

Sub-detectors, each expressed as surprise in decades of probability:

* ``out_of_range`` - how far the value lies beyond the range seen so far, in range
  widths. The known range widens only slowly after warm-up, so a drift keeps building
  surprise and a recurring excursion alarms again - unless ``recurrence_episodes``
  earlier excursions already reached as far (a routine burst of this series). The
  range width counts as at least ``range_min_steps`` of the series' quantisation steps
  (its smallest change between samples), so noise reported in coarse steps does not
  page for reaching one step beyond its range. A plain rule, no calibration: new
  extremes are the most common incident, and it catches spikes, level shifts and leaks
  alike.
* ``level_shift`` - distance from an exponentially weighted baseline (~100 samples),
  in units of its mean absolute deviation, calibrated like the context detectors.
* ``novelty`` - a short sequence of value levels never seen before,
* ``seasonal`` - a value level never seen at this time of day,
* ``pattern`` - a down-sampled shape of the last few dozen samples never seen before.
  These three come from ``memory.py``; all four are calibrated by ``calibration.py``.
* ``stuck`` - the same value repeated far longer than any run on record (a frozen
  sensor or exporter). A plain rule: series that repeat values have long runs on
  record and never trigger it.

The score is the largest surprise, minus the series' alarm bar, mapped to [0, 1].
After an alarm the detector stays quiet for ``refractory_samples`` samples (the same
incident should alarm once) and its bar rises by ``alarm_bar_step`` decades, decaying
again over ``alarm_bar_memory`` samples (a series that keeps alarming needs stronger
evidence for the next alarm); on a series sampled faster than ``alarm_period_s`` both
count periods of it instead, so they last as long in time as at 5 minutes. Why these
pieces and not others: see EXPERIMENTS.md.
"""

from __future__ import annotations

import functools
import math
import struct
from array import array
from dataclasses import dataclass
from typing import Any

from .calibration import LikelihoodParams, Likelihoods, update_four_streams
from .config import DETECTOR_NAMES, DetectorConfig
from .memory import ContextMemory, MemoryParams
from .result import ScoreResult
from .seasonal import FIRST_SEEN as SEASON_FIRST_SEEN
from .seasonal import NUMBERS as SEASON_NUMBERS
from .seasonal import WEEKLY, SeasonalProfile
from .serial import dec, enc, result_from_list, result_to_list

STATE_VERSION = 3
_DAY = 86400.0
# Positions of the detector's own numbers in its float array ``f`` (one array instead of a
# float object each saves a few hundred bytes per series); the likelihood streams', the
# seasonal profile's and the context grid's numbers follow them. The first ten are written
# back by one ``_HEAD.pack_into`` per sample (cheaper than ten item assignments): the last
# time and value, the typical interval, the known range, the baseline, then the last
# result's score and expected range.
_TS, _VALUE, _DT, _LO, _HI, _MEAN, _DEV, _LAST = range(8)
_HEAD = struct.Struct("10d")
_READ = struct.Struct("7d")  # up to the last result
_BAR, _WITHHELD = 10, 11
_LIKELIHOODS = 12
_LIKELIHOOD_STREAMS = 4  # level_shift, novelty, seasonal, pattern
_SEASON = _LIKELIHOODS + 3 * _LIKELIHOOD_STREAMS
_SEASON_FIRST_SEEN = _SEASON + SEASON_FIRST_SEEN
_GRID = _SEASON + SEASON_NUMBERS  # the grid's origin and width
# Then the peaks of the largest excursions above and below the range (``k`` each, largest
# first, NaN while fewer are on record; the ones below negated) and of the current ones.
_PEAKS = _GRID + 2
# The last result's flags (kept as one small integer; 0: no result yet).
_HAS, _ALARM, _WARMING, _SUPPRESSED = 1, 2, 4, 8
# A result is a tuple: built by ``tuple.__new__`` it skips the named tuple's Python-level
# ``__new__`` (half the cost of building it).
_new_tuple = tuple.__new__
_ZERO = (0.0,)
#: Shared by every detector built without a configuration (a config is ~260 bytes).
_DEFAULT_CONFIG = DetectorConfig()
#: Context-memory halvings a day of samples may span for the seasonal context to alarm: a
#: level seen two or three times at this hour the day before survives two halvings, while a
#: day spanning more forgets the day before's rarer levels and every visit of an hour looks
#: new (on 5-second noise: 6 seasonal alarms per series in days 2-3 with 4, none with 2).
_SEASONAL_HALVINGS = 2


@dataclass(frozen=True, slots=True)
class _Derived:
    """Per-configuration constants, computed once and shared by all detectors."""

    likelihood: LikelihoodParams
    memory: MemoryParams
    alarm_decades: float
    bar_decay: float
    weights: tuple[float, float, float, float, float, float]
    contexts_ready: int  # the last sample at which the context detectors cannot alarm
    unit_weights: bool  # every weight is 1 (multiplying by them changes nothing)
    current_peaks: int  # position of the current excursion's peak above the range
    # the shortest typical interval (seconds) at which the context memory still holds the
    # previous day's visit of an hour: a day of samples within its forgetting horizon
    seasonal_min_dt: float
    step: int  # position of the quantisation step (smallest change between samples)
    quantised: bool  # the range width has a floor in steps of the series


@functools.lru_cache(maxsize=64)
def _derive(cfg: DetectorConfig) -> _Derived:
    w = cfg.detector_weights
    return _Derived(
        LikelihoodParams.from_windows(
            cfg.likelihood_short, cfg.likelihood_long, cfg.likelihood_floor
        ),
        MemoryParams.build(
            cfg.quant_levels,
            cfg.context_length,
            cfg.time_bins_per_day,
            cfg.memory_slots,
            cfg.grid_reset_factor,
            cfg.pattern_block,
            cfg.pattern_blocks,
            cfg.memory_halving_interval,
            cfg.seasonal_familiar_after,
            cfg.hash_seed,
        ),
        cfg.alarm_threshold * cfg.score_decades,
        math.exp(-1.0 / cfg.alarm_bar_memory),
        (float(w[0]), float(w[1]), float(w[2]), float(w[3]), float(w[4]), float(w[5])),
        cfg.memory_start_samples + cfg.memory_settle_samples,
        all(x == 1.0 for x in w),
        _PEAKS + 2 * cfg.recurrence_episodes,
        _DAY / (cfg.memory_halving_interval * _SEASONAL_HALVINGS),
        _PEAKS + 2 * cfg.recurrence_episodes + 2,
        cfg.range_min_steps > 0.0,
    )


class SeriesDetector:
    """Anomaly scorer for one series; see the module docstring for the model."""

    __slots__ = (
        "_cfg",
        "_d",
        "f",
        "last_fired",
        "last_flags",
        "memory",
        "n",
        "refractory_left",
        "run",
        "run_record",
        "season",
    )

    def __init__(self, config: DetectorConfig | None = None) -> None:
        cfg = config if config is not None else _DEFAULT_CONFIG
        self._cfg = cfg
        self._d = _derive(cfg)
        self.n = 0
        # the last result (for a redelivered sample): its flags and detectors here, its
        # numbers in ``f`` (a result object per series would cost ~170 bytes more)
        self.last_flags = 0
        self.last_fired: tuple[str, ...] = ()
        # last time and value, typical interval, known range, baseline mean and mean
        # absolute deviation, the alarm bar (extra decades required after recent alarms),
        # the score needed to alarm in a quiet period the caller withheld; then the
        # likelihood streams' numbers
        # (a repeated one-item array is allocated to the byte; one built from bytes keeps
        # ~1/16 more room, 40 B a series)
        self.f = f = array("d", _ZERO) * (_PEAKS + 2 * cfg.recurrence_episodes + 3)
        f[_TS] = f[_VALUE] = math.nan
        for i in range(_PEAKS, len(f) - 1):
            f[i] = math.nan
        f[-1] = math.inf  # no change between samples seen yet
        f[_LO], f[_HI] = math.inf, -math.inf
        # alarm periods (samples at ``alarm_period_s`` or slower) the scores stay muted
        self.refractory_left: float = 0
        self.run = 0  # current run of identical values
        self.run_record = 0  # longest completed run so far
        self.memory = ContextMemory(self._d.memory, f, _GRID)
        self.season = SeasonalProfile(f, _SEASON)

    @property
    def config(self) -> DetectorConfig:
        """The configuration this detector was built with."""
        return self._cfg

    @property
    def last_ts(self) -> float:
        """Latest timestamp seen (NaN before the first sample)."""
        return self.f[_TS]

    @property
    def last_value(self) -> float:
        return self.f[_VALUE]

    @property
    def dt_typical(self) -> float:
        """Typical sampling interval in seconds (0 until two samples were seen)."""
        return self.f[_DT]

    def samples_per_alarm_period(self) -> int:
        """How many of this series' samples one alarm period (``alarm_period_s``) holds: 1 for a
        series sampled that often or less (or not known yet), else its samples per period,
        rounded as the quiet period counts them."""
        dt, period = self.f[_DT], self._cfg.alarm_period_s
        if not 0.0 < dt < period:
            return 1
        return max(1, round(period / dt))

    @property
    def lo(self) -> float:
        """Low end of the known range."""
        return self.f[_LO]

    @property
    def hi(self) -> float:
        """High end of the known range."""
        return self.f[_HI]

    @property
    def mean(self) -> float:
        """Baseline (exponentially weighted mean)."""
        return self.f[_MEAN]

    @property
    def dev(self) -> float:
        """Baseline's mean absolute deviation."""
        return self.f[_DEV]

    @property
    def bar(self) -> float:
        """Extra decades of surprise required after recent alarms."""
        return self.f[_BAR]

    @property
    def withheld(self) -> float:
        """Score needed to alarm in a quiet period the caller withheld (0: none)."""
        return self.f[_WITHHELD]

    @property
    def stuck(self) -> bool:
        """The value has repeated long enough for ``stuck`` to alarm on its own: a frozen
        series is not back to normal while it stays frozen, however quiet its score has
        become (the alarm bar rises after each alarm)."""
        return self.run_record > 0 and self.run > self._stuck_alarm_run()

    def _stuck_alarm_run(self) -> float:
        """The run length at which ``stuck`` reaches alarm level, given the record."""
        cfg = self._cfg
        limit = self.run_record + cfg.stuck_min_run
        return float(limit * 2.0 ** (self._d.alarm_decades / cfg.stuck_decades_per_doubling))

    # ------------------------------------------------------------------ scoring
    def update(self, timestamp: float, value: float) -> ScoreResult:
        """Score ``value`` observed at ``timestamp`` (epoch seconds), then learn it.

        Never raises on bad input: NaN/inf (or absurdly large) values are skipped and
        reported with ``skipped=True``; a re-delivered sample (same timestamp and value
        as the previous one) returns the previous result unchanged; other duplicate or
        out-of-order timestamps are scored in arrival order (time of day from their own
        timestamp); a gap of more than ``gap_factor`` typical intervals restarts the
        sequence contexts. A non-numeric timestamp counts as "same time as the last".
        """
        cfg = self._cfg
        if type(value) is not float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
        if not abs(value) <= cfg.max_abs_value:  # also catches NaN
            return self._skipped()
        if type(timestamp) is float:
            ts = timestamp
        else:
            try:
                ts = float(timestamp)
            except (TypeError, ValueError):
                ts = math.nan
        f = self.f
        last_ts, last_value, dt, lo, hi, mean, dev = _READ.unpack_from(f)
        if ts - ts != 0.0:  # NaN or infinite
            ts = last_ts if last_ts == last_ts else 0.0
        if ts == last_ts and value == last_value and self.last_flags:
            return self._last()
        if ts > last_ts:  # False while last_ts is NaN
            dt = self._track_interval(ts - last_ts, dt)

        n = self.n + 1
        self.n = n
        d = self._d

        # out_of_range: excursion beyond the known range, in range widths.
        range_dec = 0.0
        if n > 1:
            excess = value - hi if value > hi else lo - value
            if excess > 0.0 and abs(value - mean) >= cfg.range_min_deviation * dev:
                span = hi - lo
                if span > 0.0:
                    if d.quantised:  # a range only a few of the series' steps wide
                        floor = cfg.range_min_steps * f[d.step]
                        if span < floor < math.inf:  # inf: no step seen (a restored state)
                            span = floor
                    range_dec = cfg.range_decades_per_width * excess / span
                else:  # the first change of a so far constant series
                    range_dec = cfg.score_decades
            if cfg.recurrence_episodes and n > cfg.warmup_samples:
                current = d.current_peaks
                # nothing to do inside the range unless an excursion just ended
                if excess > 0.0 or f[current] == f[current] or f[current + 1] == f[current + 1]:
                    range_dec = self._recurrence(value, lo, hi, range_dec)

        # stuck: the same value for longer than ever before (only once runs are on record).
        stuck_dec = 0.0
        if d.quantised and value != last_value and last_value == last_value:
            change = abs(value - last_value)
            if change < f[d.step] and change > 1e-9 * (abs(value) + abs(last_value)):
                f[d.step] = change
        if value == last_value:
            run = self.run + 1
            self.run = run
            limit = self.run_record + cfg.stuck_min_run
            if self.run_record > 0 and run > limit:
                stuck_dec = cfg.stuck_decades_per_doubling * math.log2(run / limit)
        else:
            if self.run > self.run_record:
                self.run_record = self.run
            self.run = 1

        # level_shift: distance from the baseline, calibrated (the baseline also gives
        # the expected band and the block extremes of the pattern context).
        level_raw = 0.0
        if n > 1:
            scale = dev + 1e-9 * (abs(mean) + 1.0) + cfg.scale_range_fraction * (hi - lo)
            level_raw = 1.0 - math.exp(-abs(value - mean) / (scale * cfg.level_squash))
        a = cfg.baseline_alpha if n * cfg.baseline_alpha > 1.0 else 1.0 / n
        err = value - mean
        if n > cfg.warmup_samples:
            # Learned as if at the edge of the expected band (``expected_band`` deviations):
            # one absurd sample (a glitch, a counter that wrapped, a value sent on purpose)
            # would otherwise drag the baseline and its deviation for thousands of samples,
            # and a real incident meanwhile would look ordinary. A lasting shift still moves
            # it, by a band's width at a time.
            edge = cfg.expected_band * (
                dev + 1e-9 * (abs(mean) + 1.0) + cfg.scale_range_fraction * (hi - lo)
            )
            if err > edge:
                err = edge
            elif err < -edge:
                err = -edge
        new_mean = mean + a * err
        new_dev = dev + a * (abs(err) - dev)
        if n <= cfg.warmup_samples or n == 1:
            if value < lo:
                lo = value
            if value > hi:
                hi = value
        elif value < lo:  # one sample at most doubles the range (it never shrinks again)
            lo -= min(cfg.range_expand_rate * (lo - value), hi - lo)
        elif value > hi:
            hi += min(cfg.range_expand_rate * (value - hi), hi - lo)

        # novelty / seasonal / pattern: contexts never seen before, calibrated. The
        # seasonal profile gives the expected range (judged before it learns the value)
        # and says whether the seasonal context should tell weekdays apart.
        seq_raw = tod_raw = pat_raw = 0.0
        band = cfg.expected_band
        seasonal_band = None
        if n > cfg.memory_start_samples:
            season = self.season
            seasonal_band = season.observe(ts, value, lo, hi, new_dev, dt, band)
            bins = cfg.time_bins_per_day
            time_bin = int((ts % _DAY) * bins / _DAY)
            week_bin = -1
            if season.weekly_likely:
                week_bin = (int(ts // _DAY + 3) % 7) * bins + time_bin  # Monday = 0
            seq_raw, tod_raw, pat_raw = self.memory.observe(
                value, lo, hi, time_bin, new_mean, week_bin, season.mode == WEEKLY
            )
        if seasonal_band is None:
            low, high = mean - band * dev, mean + band * dev
        else:
            low, high = seasonal_band
            # The level is judged against what is usual at this hour too (the band's centre,
            # in the profile's typical errors), and the farther of the two counts: a daily
            # jump that did not come is close to the recent level and far from the hour's.
            centre = 0.5 * (low + high)
            scale = (high - low) / (2.0 * band) + 1e-9 * (abs(centre) + 1.0)
            scale += cfg.scale_range_fraction * (hi - lo)
            seasonal_raw = 1.0 - math.exp(-abs(value - centre) / (scale * cfg.level_squash))
            level_raw = seasonal_raw
        level_dec, seq_dec, tod_dec, pat_dec = update_four_streams(
            d.likelihood, f, _LIKELIHOODS, (level_raw, seq_raw, tod_raw, pat_raw), n
        )
        if tod_dec > 0.0 and (not ts - f[_SEASON_FIRST_SEEN] >= _DAY or dt < d.seasonal_min_dt):
            # "A level never seen at this hour" needs the hour seen before: until the series
            # has a day of history, or when its memory forgets within a day of samples, every
            # visit of an hour is a first one, novel whatever the values (the context is
            # still learned and calibrated, it only may not alarm).
            tod_dec = 0.0

        warming = n <= cfg.warmup_samples
        if not warming and n <= d.contexts_ready:
            # A warm-up shorter than the context memory needs: the contexts keep learning,
            # but their first burst of "everything is new" must not page.
            seq_dec = tod_dec = pat_dec = 0.0
        decades: tuple[float, ...] = (range_dec, level_dec, seq_dec, tod_dec, pat_dec, stuck_dec)
        if not d.unit_weights:
            w = d.weights
            decades = tuple(x * weight for x, weight in zip(decades, w, strict=True))
        result = self._decide(decades, warming, low, high, dt)
        if ts < last_ts:  # keeps the latest time (a NaN one is replaced)
            ts = last_ts
        _HEAD.pack_into(f, 0, ts, value, dt, lo, hi, new_mean, new_dev, result[0], low, high)
        return result

    def _decide(
        self, decades: tuple[float, ...], warming: bool, low: float, high: float, dt: float
    ) -> ScoreResult:
        """Combine sub-detector surprises into the final score and alarm decision, and
        remember the result's flags and detectors (its numbers are the caller's to keep)."""
        cfg = self._cfg
        top = max(decades)
        alarm_decades = self._d.alarm_decades
        fired: tuple[str, ...] = ()
        if top >= alarm_decades:
            fired = tuple(
                name for name, d in zip(DETECTOR_NAMES, decades, strict=True) if d >= alarm_decades
            )
        self.last_fired = fired
        if warming:
            self.last_flags = _HAS | _WARMING
            return _new_tuple(ScoreResult, (0.0, False, low, high, fired, True, False, False))
        period = cfg.alarm_period_s
        pace: float = 1  # the share of an alarm period this sample stands for
        if 0.0 < dt < period:
            # Faster sampling, more chances per day: the threshold holds per alarm period,
            # and the quiet period and the bar's memory last as many periods. Those count
            # whole samples per period: a period's series with a few shorter intervals
            # (whose typical interval then dips, to 260 s at 5 minutes) is not a faster one.
            ratio = period / dt
            top -= math.log10(ratio)
            per_period = round(ratio)
            if per_period > 1:
                pace = 1.0 / per_period
        f = self.f
        bar = f[_BAR]
        if bar > 0.0:
            bar *= self._d.bar_decay if pace == 1 else self._d.bar_decay**pace
            f[_BAR] = bar = bar if bar > 1e-3 else 0.0
            top -= bar
        score = top / cfg.score_decades if top > 0.0 else 0.0
        if score > 1.0:
            score = 1.0
        threshold = cfg.alarm_threshold
        alarm = suppressed = False
        if self.refractory_left > 0:
            left = self.refractory_left - pace
            # a few parts in 1e9 left of a fraction counted down are rounding, not a sample
            self.refractory_left = left if left > 1e-9 else 0
            withheld = f[_WITHHELD]
            if withheld > 0.0 and score >= threshold and score >= withheld:
                # clearly stronger than the alarm the caller held back: a new event
                f[_WITHHELD] = 0.0
                alarm = True
            else:  # muted; an alarm-level score stays one if the factor keeps it there
                suppressed = score >= threshold
                score *= cfg.refractory_factor
                alarm = suppressed and score >= threshold
        elif score >= threshold:
            f[_WITHHELD] = 0.0
            alarm = True
        if alarm and not suppressed:
            self.refractory_left = cfg.refractory_samples
            f[_BAR] = bar + cfg.alarm_bar_step
        self.last_flags = _HAS | (_ALARM if alarm else 0) | (_SUPPRESSED if suppressed else 0)
        return _new_tuple(ScoreResult, (score, alarm, low, high, fired, False, suppressed, False))

    def _recurrence(self, value: float, lo: float, hi: float, range_dec: float) -> float:
        """``range_dec``, or 0 when at least ``recurrence_episodes`` earlier excursions
        beyond the range reached as far as ``value``: a burst of a size this series has
        produced again and again is routine for it, not new. Also tracks the current
        excursion's peak and, when it ends, keeps it if it is among the largest."""
        k = self._cfg.recurrence_episodes
        f = self.f
        for side in (0, 1):
            current = _PEAKS + 2 * k + side
            peak = f[current]
            if value > hi if side == 0 else value < lo:
                x = value if side == 0 else -value
                kth = f[_PEAKS + side * k + k - 1]
                if x <= kth:  # False while fewer than k are on record (NaN)
                    range_dec = 0.0
                if not x <= peak:  # also replaces a NaN
                    f[current] = x
            elif peak == peak:  # the excursion ended: keep its peak if among the largest
                first = _PEAKS + side * k
                i = first + k - 1
                if not peak <= f[i]:
                    while i > first and not peak <= f[i - 1]:
                        f[i] = f[i - 1]
                        i -= 1
                    f[i] = peak
                f[current] = math.nan
        return range_dec

    def withdraw_alarm(self) -> None:
        """The caller chose not to raise the alarm just returned (a paging gate, feedback).

        The raised bar it started is returned, and the quiet period now mutes only what
        is no stronger than that alarm: a real incident right after (one decade of
        surprise more, or the highest score) still alarms at once, while the rest of the
        same excursion - a burst's following samples, equally unremarkable - is not judged
        again sample by sample (each would be another false alarm where scores are read
        directly, as in a backtest)."""
        last = self.last_result
        if self.refractory_left == self._cfg.refractory_samples and last is not None:
            f = self.f
            f[_BAR] = max(f[_BAR] - self._cfg.alarm_bar_step, 0.0)
            f[_WITHHELD] = min(last.score + 1.0 / self._cfg.score_decades, 1.0)

    @property
    def last_result(self) -> ScoreResult | None:
        """The result of the last sample learned (None before the first)."""
        return self._last() if self.last_flags else None

    def _last(self) -> ScoreResult:
        f, flags = self.f, self.last_flags
        return ScoreResult(
            f[_LAST],
            bool(flags & _ALARM),
            f[_LAST + 1],
            f[_LAST + 2],
            self.last_fired,
            bool(flags & _WARMING),
            bool(flags & _SUPPRESSED),
        )

    def _remember(self, result: ScoreResult | None) -> None:
        """Keep ``result`` as the last one (a restored checkpoint's; ``update`` keeps its
        own directly)."""
        if result is None:
            self.last_flags = 0
            self.last_fired = ()
            return
        f = self.f
        f[_LAST] = result.score
        f[_LAST + 1] = result.expected_low
        f[_LAST + 2] = result.expected_high
        self.last_fired = result.detectors
        self.last_flags = (
            _HAS
            | (_ALARM if result.is_anomaly else 0)
            | (_WARMING if result.warming_up else 0)
            | (_SUPPRESSED if result.suppressed else 0)
        )

    def _likelihoods(self) -> Likelihoods:
        """The likelihood streams' numbers (in ``f``) as an object, for the checkpoint."""
        return Likelihoods(self._d.likelihood, _LIKELIHOOD_STREAMS, self.f, _LIKELIHOODS)

    def _track_interval(self, dt: float, typical: float) -> float:
        """The typical sampling interval after one of ``dt`` (``typical`` before it);
        restarts the contexts after a gap."""
        if typical <= 0.0:
            return dt
        if dt > self._cfg.gap_factor * typical:
            self.memory.restart_sequence()
        # Asymmetric update: shrinks fast, grows slowly, so rare gaps barely move it.
        return typical + (0.1 if dt < typical else 0.01) * (dt - typical)

    def _skipped(self) -> ScoreResult:
        """Result for a value that was not learned (NaN, inf, absurd magnitude)."""
        f = self.f
        band = self._cfg.expected_band * f[_DEV]
        low, high = (f[_MEAN] - band, f[_MEAN] + band) if self.n else (math.nan, math.nan)
        warming = self.n < self._cfg.warmup_samples
        return ScoreResult(0.0, False, low, high, (), warming, skipped=True)

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        """Compact JSON-serialisable snapshot (restore with :meth:`from_state`).

        Non-finite floats are stored as ``None`` so the dict is strict JSON. The
        configuration is not included: pass the same one to :meth:`from_state`.
        """
        return {
            "v": STATE_VERSION,
            "n": self.n,
            "t": [enc(self.last_ts), enc(self.last_value), self.dt_typical],
            "range": [enc(self.lo), enc(self.hi)],
            "base": [self.mean, self.dev],
            "refr": [self.refractory_left, self.bar, self.withheld],
            "run": [self.run, self.run_record],
            "lik": self._likelihoods().to_state(),
            "mem": self.memory.to_state(),
            "season": self.season.to_state(),
            "last": result_to_list(self.last_result),
            "peaks": [enc(x) for x in self.f[_PEAKS : self._d.step]],
            "step": enc(self.f[self._d.step]),
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], config: DetectorConfig | None = None
    ) -> SeriesDetector:
        """Rebuild a detector from :meth:`to_state` output and the same config."""
        if state.get("v") not in (2, STATE_VERSION):  # 2: saved before the seasonal profile
            raise ValueError(f"unsupported detector state version {state.get('v')!r}")
        det = cls(config)
        det.n = int(state["n"])
        last_ts, last_value, dt = state["t"]
        f = det.f
        f[_TS] = dec(last_ts, math.nan)
        f[_VALUE] = dec(last_value, math.nan)
        f[_DT] = float(dt)
        f[_LO] = dec(state["range"][0], math.inf)
        f[_HI] = dec(state["range"][1], -math.inf)
        f[_MEAN], f[_DEV] = (float(x) for x in state["base"])
        left = state["refr"][0]  # a whole number of samples, or of periods counted down
        det.refractory_left = left if type(left) is int else float(left)
        f[_BAR] = float(state["refr"][1])
        f[_WITHHELD] = float(state["refr"][2]) if len(state["refr"]) > 2 else 0.0
        det.run, det.run_record = (int(x) for x in state["run"])
        det._likelihoods().load_state(state["lik"])
        det.memory.load_state(state["mem"])
        if "season" in state:
            det.season.load_state(state["season"])
        det._remember(result_from_list(state.get("last")))
        peaks = state.get("peaks")  # absent in states saved before the recurrence rule
        if peaks is not None and len(peaks) == det._d.step - _PEAKS:
            f[_PEAKS : det._d.step] = array("d", (dec(x, math.nan) for x in peaks))
        f[det._d.step] = dec(state.get("step"), math.inf)
        return det
