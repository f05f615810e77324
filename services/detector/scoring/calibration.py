"""Turn a raw sub-detector score into calibrated surprise (decades of probability).

Why: raw scores of different models and different series live on different scales (a
z-score of 4 is rare on a quiet gauge and common on a bursty counter). A single alarm
threshold only works if every raw score is first re-expressed as "how unusual is this,
for *this* series and *this* sub-detector".

How (the anomaly-likelihood idea described publicly by Numenta, written from that
description): keep a short moving average of the raw score, and judge it against the
long-run mean and spread of that same short average with a Gaussian upper tail. A
single noisy blip barely moves the short average; a burst or a persistent change does.
Everything is exponentially weighted, so time and memory are constant per sample.
"""

from __future__ import annotations

import math

_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def upper_tail_decades(z: float) -> float:
    """``-log10 P(Z > z)`` for a standard normal Z (0 for z <= 0).

    Uses ``erfc`` while it is accurate and the asymptotic Mills-ratio expansion beyond,
    so that large z keep growing smoothly instead of underflowing to infinity.
    """
    if z <= 0.0:
        return 0.0
    if z < 8.0:
        return -math.log10(0.5 * math.erfc(z / _SQRT2))
    return (0.5 * z * z + math.log(z) + _LOG_SQRT_2PI) / _LN10


class Likelihood:
    """Streaming anomaly likelihood of one raw score stream.

    ``update(raw)`` returns the surprise of the current short average, in decades,
    *before* the long-run statistics learn from it (so an outlier is judged against
    the past only). The first ``1/alpha_long`` samples use a growing-window average,
    which makes early estimates unbiased instead of anchored at zero.
    """

    __slots__ = ("_a_long", "_a_short", "_floor", "mean", "n", "short", "var")

    def __init__(self, short_window: int, long_window: int, floor: float) -> None:
        self._a_short = 2.0 / (short_window + 1.0)
        self._a_long = 1.0 / long_window
        self._floor = floor
        self.n = 0
        self.short = 0.0
        self.mean = 0.0
        self.var = 0.0

    def update(self, raw: float) -> float:
        """Learn ``raw`` and return the surprise (decades) of the new short average."""
        n = self.n + 1
        self.n = n
        short = raw if n == 1 else self.short + self._a_short * (raw - self.short)
        self.short = short
        mean = self.mean
        dev = short - mean
        z = dev / (math.sqrt(self.var) + self._floor)
        a = self._a_long if n * self._a_long > 1.0 else 1.0 / n
        self.mean = mean + a * dev
        self.var = (1.0 - a) * (self.var + a * dev * dev)
        if z <= 0.0:
            return 0.0
        return upper_tail_decades(z)

    def to_state(self) -> list[float]:
        """Compact JSON-friendly state: ``[n, short, mean, var]``."""
        return [float(self.n), self.short, self.mean, self.var]

    def load_state(self, state: list[float]) -> None:
        """Restore what :meth:`to_state` produced (the parameters come from config)."""
        self.n = int(state[0])
        self.short = float(state[1])
        self.mean = float(state[2])
        self.var = float(state[3])
