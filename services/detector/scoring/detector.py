"""Streaming per-series anomaly scorer.

One :class:`SeriesDetector` per metric series. ``update(t, value)`` scores the sample
using only the past, in constant time and constant memory, then learns from it.

Sub-detectors (each turned into calibrated surprise, see ``calibration.py``):

* ``out_of_range`` - how far the value lies beyond the range seen so far (in range
  widths). A plain rule, no calibration: new extremes are the most common incident.
* ``spike`` - distance from a fast exponentially weighted baseline, scaled by the
  baseline's own typical deviation, judged by its anomaly likelihood.
* ``novelty`` - a sequence of value levels never seen before (``memory.py``).
* ``seasonal`` - a value level never seen at this time of day (``memory.py``).

The score is the largest surprise, mapped to [0, 1]. After an alarm the scorer stays
quiet for ``refractory_samples`` samples: the same incident should alarm once.
"""

from __future__ import annotations

import math
from typing import Any

from .calibration import Likelihood
from .config import DETECTOR_NAMES, DetectorConfig
from .memory import ContextMemory
from .result import ScoreResult

STATE_VERSION = 1
_DAY = 86400.0


class SeriesDetector:
    """Anomaly scorer for one series; see the module docstring for the model."""

    __slots__ = (
        "_cfg",
        "dev",
        "dt_typical",
        "hi",
        "last_result",
        "last_ts",
        "last_value",
        "lo",
        "mean",
        "memory",
        "n",
        "pattern_lik",
        "refractory_left",
        "seq_lik",
        "spike_lik",
        "tod_lik",
    )

    def __init__(self, config: DetectorConfig | None = None) -> None:
        cfg = config if config is not None else DetectorConfig()
        self._cfg = cfg
        self.n = 0
        self.last_ts = math.nan
        self.last_value = math.nan
        self.last_result: ScoreResult | None = None
        self.dt_typical = 0.0
        self.lo = math.inf
        self.hi = -math.inf
        self.mean = 0.0
        self.dev = 0.0
        self.refractory_left = 0
        lik = (cfg.likelihood_short, cfg.likelihood_long, cfg.likelihood_floor)
        self.spike_lik = Likelihood(*lik)
        self.seq_lik = Likelihood(*lik)
        self.tod_lik = Likelihood(*lik)
        self.pattern_lik = Likelihood(*lik)
        self.memory = ContextMemory(
            cfg.quant_levels,
            cfg.context_length,
            cfg.time_bins_per_day,
            cfg.memory_slots,
            cfg.grid_reset_factor,
            cfg.pattern_block,
            cfg.pattern_blocks,
            cfg.hash_seed,
        )

    @property
    def config(self) -> DetectorConfig:
        """The configuration this detector was built with."""
        return self._cfg

    # ------------------------------------------------------------------ scoring
    def update(self, timestamp: float, value: float) -> ScoreResult:
        """Score ``value`` observed at ``timestamp`` (epoch seconds), then learn it.

        Never raises on bad input: NaN/inf (or absurdly large) values are skipped and
        reported with ``skipped=True``; a re-delivered sample (same timestamp and value
        as the previous one) returns the previous result unchanged; other duplicate or
        out-of-order timestamps are scored in arrival order; a gap of more than
        ``gap_factor`` typical intervals restarts the sequence context.
        """
        cfg = self._cfg
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if not (abs(value) <= cfg.max_abs_value):  # also catches NaN
            return self._skipped()
        try:
            ts = float(timestamp)
        except (TypeError, ValueError):
            ts = math.nan
        if not math.isfinite(ts):
            ts = self.last_ts if math.isfinite(self.last_ts) else 0.0
        if ts == self.last_ts and value == self.last_value and self.last_result is not None:
            return self.last_result
        self._track_time(ts)

        n = self.n + 1
        self.n = n
        warming = n <= cfg.warmup_samples
        lo, hi = self.lo, self.hi
        span = hi - lo if n > 1 else 0.0
        mean, dev = self.mean, self.dev

        # out_of_range: excursion beyond the known range, in range widths.
        range_dec = 0.0
        if n > 1:
            excess = value - hi if value > hi else lo - value
            if excess > 0.0:
                if span > 0.0:
                    range_dec = cfg.range_decades_per_width * excess / span
                else:
                    range_dec = cfg.score_decades  # first change of a constant series

        # spike: distance from the fast baseline, calibrated.
        if n > 1:
            scale = dev + 1e-9 * (abs(mean) + 1.0) + cfg.scale_range_fraction * span
            z = abs(value - mean) / scale
            spike_raw = 1.0 - math.exp(-z / cfg.spike_squash)
        else:
            spike_raw = 0.0
        spike_dec = self.spike_lik.update(spike_raw)
        a = cfg.baseline_alpha if n * cfg.baseline_alpha > 1.0 else 1.0 / n
        err = value - mean
        self.mean = mean + a * err
        self.dev = dev + a * (abs(err) - dev)

        # known range: exact during warm-up, then widening slowly.
        if warming or n == 1:
            lo = min(lo, value)
            hi = max(hi, value)
        else:
            rate = cfg.range_expand_rate
            if value < lo:
                lo += rate * (value - lo)
            elif value > hi:
                hi += rate * (value - hi)
        self.lo, self.hi = lo, hi

        # novelty / seasonal: contexts never seen before.
        seq_raw = tod_raw = pat_raw = 0.0
        if n > cfg.memory_start_samples:
            memory = self.memory
            memory.ensure_grid(lo, hi)
            time_bin = int((ts % _DAY) * cfg.time_bins_per_day / _DAY)
            seq_new, tod_new, pat_new = memory.observe(
                value, time_bin, self.mean, cfg.memory_halving_interval
            )
            seq_raw = 1.0 if seq_new else 0.0
            tod_raw = 1.0 if tod_new else 0.0
            pat_raw = 1.0 if pat_new else 0.0
        seq_dec = self.seq_lik.update(seq_raw)
        tod_dec = self.tod_lik.update(tod_raw)
        pat_dec = self.pattern_lik.update(pat_raw)

        w = cfg.detector_weights
        result = self._decide(
            (range_dec * w[0], spike_dec * w[1], seq_dec * w[2], tod_dec * w[3], pat_dec * w[4]),
            warming,
            mean - cfg.expected_band * dev,
            mean + cfg.expected_band * dev,
        )
        self.last_ts = ts if not math.isfinite(self.last_ts) else max(self.last_ts, ts)
        self.last_value = value
        self.last_result = result
        return result

    def _decide(
        self, decades: tuple[float, ...], warming: bool, low: float, high: float
    ) -> ScoreResult:
        """Combine sub-detector surprises into the final score and alarm decision."""
        cfg = self._cfg
        top = max(decades)
        alarm_decades = cfg.alarm_threshold * cfg.score_decades
        fired = (
            tuple(
                name for name, d in zip(DETECTOR_NAMES, decades, strict=True) if d >= alarm_decades
            )
            if top >= alarm_decades
            else ()
        )
        if warming:
            return ScoreResult(0.0, False, low, high, fired, True)
        score = top / cfg.score_decades
        if score > 1.0:
            score = 1.0
        suppressed = False
        if self.refractory_left > 0:
            self.refractory_left -= 1
            if score >= cfg.alarm_threshold:
                suppressed = True
            score *= cfg.refractory_factor
        elif score >= cfg.alarm_threshold:
            self.refractory_left = cfg.refractory_samples
        return ScoreResult(score, score >= cfg.alarm_threshold, low, high, fired, False, suppressed)

    def _liks(self) -> tuple[Likelihood, ...]:
        return (self.spike_lik, self.seq_lik, self.tod_lik, self.pattern_lik)

    def _track_time(self, ts: float) -> None:
        """Learn the typical sampling interval and restart the context after gaps."""
        last = self.last_ts
        if not math.isfinite(last):
            return
        dt = ts - last
        if dt <= 0.0:
            return
        typical = self.dt_typical
        if typical <= 0.0:
            self.dt_typical = dt
            return
        if dt > self._cfg.gap_factor * typical:
            self.memory.restart_sequence()
        # Asymmetric update: shrinks fast, grows slowly, so rare gaps barely move it.
        self.dt_typical = typical + (0.1 if dt < typical else 0.01) * (dt - typical)

    def _skipped(self) -> ScoreResult:
        """Result for a value that was not learned (NaN, inf, absurd magnitude)."""
        band = self._cfg.expected_band * self.dev
        low, high = (self.mean - band, self.mean + band) if self.n else (math.nan, math.nan)
        return ScoreResult(
            0.0, False, low, high, (), self.n < self._cfg.warmup_samples, skipped=True
        )

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        """Compact JSON-serialisable snapshot (restore with :meth:`from_state`).

        Non-finite floats are stored as ``None`` so the dict is strict JSON.
        """
        return {
            "v": STATE_VERSION,
            "n": self.n,
            "last_ts": _enc(self.last_ts),
            "last_value": _enc(self.last_value),
            "dt": self.dt_typical,
            "lo": _enc(self.lo),
            "hi": _enc(self.hi),
            "mean": self.mean,
            "dev": self.dev,
            "refr": self.refractory_left,
            "lik": [lik.to_state() for lik in self._liks()],
            "mem": self.memory.to_state(),
            "last": _result_to_list(self.last_result),
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], config: DetectorConfig | None = None
    ) -> SeriesDetector:
        """Rebuild a detector from :meth:`to_state` output and the same config."""
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported detector state version {state.get('v')!r}")
        det = cls(config)
        det.n = int(state["n"])
        det.last_ts = _dec(state["last_ts"], math.nan)
        det.last_value = _dec(state["last_value"], math.nan)
        det.dt_typical = float(state["dt"])
        det.lo = _dec(state["lo"], math.inf)
        det.hi = _dec(state["hi"], -math.inf)
        det.mean = float(state["mean"])
        det.dev = float(state["dev"])
        det.refractory_left = int(state["refr"])
        for lik, saved in zip(det._liks(), state["lik"], strict=True):
            lik.load_state(saved)
        det.memory.load_state(state["mem"])
        det.last_result = _result_from_list(state.get("last"))
        return det


def _enc(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _dec(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def _result_to_list(r: ScoreResult | None) -> list[Any] | None:
    if r is None:
        return None
    return [
        r.score,
        r.is_anomaly,
        _enc(r.expected_low),
        _enc(r.expected_high),
        list(r.detectors),
        r.warming_up,
        r.suppressed,
    ]


def _result_from_list(x: list[Any] | None) -> ScoreResult | None:
    if x is None:
        return None
    return ScoreResult(
        float(x[0]),
        bool(x[1]),
        _dec(x[2], math.nan),
        _dec(x[3], math.nan),
        tuple(str(d) for d in x[4]),
        bool(x[5]),
        bool(x[6]),
    )
