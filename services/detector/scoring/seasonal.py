"""What is normal for this hour of the day, or of this weekday: a compact seasonal profile.

Why: operational metrics follow daily and often weekly cycles (traffic falls at night and on
weekends). The band a page quotes ("expected 40 to 60") should be what is normal *for this
hour of this weekday* when the series has such a cycle, and the seasonal novelty context
should tell a Wednesday from a Sunday only when the series itself does.

How: one mean per hour of the day (24) and one per hour of the week (168), each an
exponentially weighted average of the samples falling in that hour. Before a sample is
learned, each profile's prediction error is recorded (an average over about a week), so
both profiles are judged on data they have not seen, like the baseline they compete with:

* the weekly profile is *in use* once two weeks have been seen and its error is at most
  ``1 - margin`` of the daily profile's (it explains a clear share of what the daily one
  leaves);
* otherwise the daily profile is in use once two days have been seen and its error is at
  most ``1 - margin`` of the baseline's mean absolute deviation;
* otherwise there is no seasonality and the caller's baseline band stands.

Nothing is assumed about the series: a series without a weekly cycle keeps its weekly
profile noisier than the daily one (7x fewer samples per mean) and never switches.

The in-use profile's error is its band's spread (mean absolute deviation). Memory: the 192
means are 16-bit codes on a linear map of the known range with two range-widths of margin
on each side (resolution = range / 13,000), re-mapped when the range outgrows it;
~450 bytes per series.
"""

from __future__ import annotations

import base64
import math
import struct
import sys
from array import array
from typing import Any

_HOUR = 3600.0
_DAY = 86400.0
_WEEK = 7 * _DAY
_BINS = 24 + 168  # hour of day, then hour of week
_TOP = 65535  # largest code; 0 means "never seen"
#: Days of history a profile must have before it is trusted (one cycle to learn, one to
#: check the prediction against).
_CYCLES = 2.0
#: Cycles a profile's means remember: long enough to average out one odd day or week,
#: short enough to follow a change of routine within a month.
_DAY_MEMORY = 7.0
_WEEK_MEMORY = 3.0
#: The share of the competitor's error a profile must remove to be used.
MARGIN = 0.2

NONE, DAILY, WEEKLY = 0, 1, 2
#: How many floats the profile keeps (in its own array, or in the caller's at ``base``).
NUMBERS = 6
# Their positions: the code map, the first timestamp, both profiles' errors, their count.
_ORIGIN, _RES, _START, _ERR_DAY, _ERR_WEEK, _UPDATES = range(NUMBERS)
#: Where the time of the first sample the profile learned is kept (NaN before it).
FIRST_SEEN = _START
#: All of them in one call (an array item assignment costs a third of writing all six).
_ALL = struct.Struct(f"{NUMBERS}d")
# Seconds of samples an hour bin's mean remembers; how long a profile must have seen; the
# share of its competitor's error a profile may keep.
_DAY_MEAN_SPAN = _HOUR * _DAY_MEMORY
_WEEK_MEAN_SPAN = _HOUR * _WEEK_MEMORY
_TRUST_DAILY = _CYCLES * _DAY
_TRUST_WEEKLY = _CYCLES * _WEEK
_KEEP = 1.0 - MARGIN


def _learned(code: int, x: float, a: float) -> int:
    """An hour bin's mean ``code`` (0: none yet) after learning the value whose fractional
    code is ``x``, with weight ``a`` (capped at 1)."""
    y = code + (a if a < 1.0 else 1.0) * (x - code) if code else x
    new = int(y + 0.5)
    return 1 if new < 1 else (_TOP if new > _TOP else new)


def week_bin(ts: float) -> int:
    """Hour of the week (0 = Monday 00:00-01:00 UTC)."""
    days = math.floor(ts / _DAY)
    return ((days + 3) % 7) * 24 + int((ts - days * _DAY) // _HOUR)


class SeasonalProfile:
    """Hour-of-day and hour-of-week means of one series, and which of them to believe."""

    __slots__ = ("b", "codes", "mode", "v", "weekly_likely")

    def __init__(self, storage: array[float] | None = None, base: int = 0) -> None:
        """``storage``: an array the profile may keep its numbers in from ``base`` on
        (the detector's, so that a series has one array of floats instead of several)."""
        self.codes = array("H", (0,)) * _BINS  # allocated to the byte (see detector.py)
        self.v = array("d", bytes(8 * NUMBERS)) if storage is None else storage
        self.b = base
        # code map origin and resolution (0: no map yet), the timestamp of the first sample
        # learned, both profiles' mean absolute errors and how many samples they judged
        self.v[base + _START] = math.nan
        self.mode = NONE
        #: the weekly profile predicts clearly better than the daily one so far (it may
        #: not have seen enough weeks to be used yet)
        self.weekly_likely = False

    # ------------------------------------------------------------------ codes
    def _remap(self, lo: float, hi: float) -> None:
        span = hi - lo
        span = max(span, 1e-9 * max(abs(lo), abs(hi), 1.0))
        origin, res = lo - 2.0 * span, 5.0 * span / (_TOP - 1)
        v, b = self.v, self.b
        old_origin, old_res, codes = v[b + _ORIGIN], v[b + _RES], self.codes
        for i, c in enumerate(codes):
            if c:
                x = old_origin + (c - 1) * old_res
                codes[i] = min(max(int((x - origin) / res + 1.5), 1), _TOP)
        v[b + _ORIGIN], v[b + _RES] = origin, res

    @property
    def err_day(self) -> float:
        """The daily profile's mean absolute error on samples it had not learned yet."""
        return self.v[self.b + _ERR_DAY]

    @property
    def err_week(self) -> float:
        """The weekly profile's mean absolute error on samples it had not learned yet."""
        return self.v[self.b + _ERR_WEEK]

    def mean(self, index: int) -> float:
        c = self.codes[index]
        v, b = self.v, self.b
        return v[b + _ORIGIN] + (c - 1) * v[b + _RES] if c else math.nan

    # ------------------------------------------------------------------ learning
    def observe(
        self,
        ts: float,
        value: float,
        lo: float,
        hi: float,
        base_dev: float,
        dt: float,
        width: float,
    ) -> tuple[float, float] | None:
        """The seasonal expected range at ``ts`` (``width`` spreads either side of the
        profile in use; None when none is), judged before ``value`` is learned; then
        record both profiles' errors on ``value``, learn it and update :attr:`mode`.

        ``lo``/``hi`` is the known range (for the code map), ``base_dev`` the baseline's
        mean absolute deviation (what the daily profile must beat), ``dt`` the typical
        sampling interval in seconds.
        """
        v, b = self.v, self.b
        origin, res, start, err_day, err_week, updates = _ALL.unpack_from(v, 8 * b)
        if res == 0.0 or not (origin <= lo and hi <= origin + (_TOP - 1) * res):
            self._remap(lo, hi)
            origin, res = v[b + _ORIGIN], v[b + _RES]
        if start != start:
            start = ts
        days = ts // _DAY
        hb = int((ts - days * _DAY) // _HOUR)
        wi = 24 + int((days + 3.0) % 7.0) * 24 + hb  # Monday 00:00 is 24
        codes = self.codes
        cd, cw = codes[hb], codes[wi]

        band = None
        mode = self.mode
        if mode == WEEKLY and cw:
            centre = origin + (cw - 1) * res
            band = (centre - width * err_week, centre + width * err_week)
        elif mode == DAILY and cd:
            centre = origin + (cd - 1) * res
            band = (centre - width * err_day, centre + width * err_day)

        if dt <= 0.0:
            dt = _HOUR
        if cd and cw:
            updates += 1.0
            # errors remember about a week of samples (a growing average until then)
            a = dt / _WEEK
            if a < 1.0 / updates:
                a = 1.0 / updates
            if a > 1.0:
                a = 1.0
            err_day += a * (abs(value - (origin + (cd - 1) * res)) - err_day)
            err_week += a * (abs(value - (origin + (cw - 1) * res)) - err_week)
        _ALL.pack_into(v, 8 * b, origin, res, start, err_day, err_week, updates)
        # one visit of a bin is an hour of samples: each mean remembers a few visits
        x = (value - origin) / res + 1.0  # the value as a (fractional) code
        codes[hb] = _learned(cd, x, dt / _DAY_MEAN_SPAN)
        codes[wi] = _learned(cw, x, dt / _WEEK_MEAN_SPAN)

        likely = updates > 0.0 and err_week <= _KEEP * err_day
        self.weekly_likely = likely
        seen = ts - start
        if likely and seen >= _TRUST_WEEKLY:
            self.mode = WEEKLY
        elif seen >= _TRUST_DAILY and err_day <= _KEEP * base_dev:
            self.mode = DAILY
        else:
            self.mode = NONE
        return band

    # ------------------------------------------------------------------ state
    def to_state(self) -> list[Any]:
        codes = array("H", self.codes)
        if sys.byteorder == "big":  # the checkpoint is little-endian everywhere
            codes.byteswap()
        v, b = self.v, self.b
        start = v[b + _START]
        return [
            base64.b64encode(codes.tobytes()).decode("ascii"),
            v[b + _ORIGIN],
            v[b + _RES],
            None if start != start else start,
            v[b + _ERR_DAY],
            v[b + _ERR_WEEK],
            int(v[b + _UPDATES]),
            self.mode,
        ]

    def load_state(self, state: list[Any]) -> None:
        codes = array("H", base64.b64decode(state[0]))
        if sys.byteorder == "big":
            codes.byteswap()
        if len(codes) != _BINS:
            raise ValueError("seasonal profile has the wrong number of bins")
        self.codes = array("H", (0,)) * _BINS
        self.codes[:] = codes
        v, b = self.v, self.b
        v[b + _ORIGIN], v[b + _RES] = float(state[1]), float(state[2])
        v[b + _START] = math.nan if state[3] is None else float(state[3])
        v[b + _ERR_DAY], v[b + _ERR_WEEK] = float(state[4]), float(state[5])
        v[b + _UPDATES], self.mode = float(int(state[6])), int(state[7])
        self.weekly_likely = v[b + _UPDATES] > 0 and v[b + _ERR_WEEK] <= _KEEP * v[b + _ERR_DAY]
