"""Turn a raw sub-detector score into calibrated surprise (decades of probability).

Why: raw scores of different models and different series live on different scales (a
burst of novel contexts is routine for a noisy counter and alarming for a quiet gauge).
A single alarm threshold only works if every raw score is first re-expressed as "how
unusual is this, for *this* series and *this* sub-detector".

How (the anomaly-likelihood idea described publicly by Numenta, written from that
description): keep a short moving average of the raw score, and judge it against the
long-run mean and spread of that same short average with a Gaussian upper tail. A
single blip barely moves the short average; a burst or a persistent change does.
Everything is exponentially weighted, so time and memory are constant per sample.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class LikelihoodParams:
    """Smoothing constants shared by every :class:`Likelihood` of one configuration."""

    a_short: float
    a_long: float
    long_window: int
    floor: float

    @classmethod
    def from_windows(cls, short_window: int, long_window: int, floor: float) -> LikelihoodParams:
        """EWMA constants for a short average of ``short_window`` samples' mass."""
        return cls(2.0 / (short_window + 1.0), 1.0 / long_window, long_window, floor)


def update_stream(p: LikelihoodParams, s: array[float], i: int, raw: float, n: int) -> float:
    """Learn ``raw``, the ``n``-th value of the stream whose three numbers (short average,
    long-run mean and variance) are ``s[i:i + 3]``; return the surprise of the new short
    average in decades, judged before the long-run statistics learn from it."""
    short = raw if n == 1 else s[i] + p.a_short * (raw - s[i])
    s[i] = short
    mean = s[i + 1]
    dev = short - mean
    var = s[i + 2]
    z = dev / (math.sqrt(var) + p.floor)
    a = p.a_long if n > p.long_window else 1.0 / n
    s[i + 1] = mean + a * dev
    s[i + 2] = (1.0 - a) * (var + a * dev * dev)
    if z <= 0.0:
        return 0.0
    return upper_tail_decades(z)


#: The numbers of four streams, read and written in one call each (an ``array`` item
#: assignment parses its argument like a function call: twelve of them cost three times
#: what one ``pack_into`` does).
_FOUR_STREAMS = struct.Struct("12d")


def update_four_streams(
    p: LikelihoodParams,
    s: array[float],
    i: int,
    raws: tuple[float, float, float, float],
    n: int,
) -> list[float]:
    """:func:`update_stream` for four consecutive streams from ``s[i]`` on, with the
    ``raws`` of this sample; returns their surprises in the same order."""
    a_short, floor = p.a_short, p.floor
    a = p.a_long if n > p.long_window else 1.0 / n
    keep = 1.0 - a
    old = _FOUR_STREAMS.unpack_from(s, 8 * i)
    numbers: list[float] = []
    surprises: list[float] = []
    k = 0
    for raw in raws:
        short, mean, var = old[k], old[k + 1], old[k + 2]
        k += 3
        short = raw if n == 1 else short + a_short * (raw - short)
        dev = short - mean
        numbers.append(short)
        numbers.append(mean + a * dev)
        numbers.append(keep * (var + a * dev * dev))
        # the variance is never negative, so z has the sign of dev
        surprises.append(upper_tail_decades(dev / (math.sqrt(var) + floor)) if dev > 0.0 else 0.0)
    _FOUR_STREAMS.pack_into(s, 8 * i, *numbers)
    return surprises


class Likelihoods:
    """Streaming anomaly likelihood of several raw score streams of one series.

    ``update(k, raw, n)`` learns ``raw`` on stream ``k`` and returns the surprise of its
    short average, in decades, *before* the long-run statistics learn from it (so an
    outlier is judged against the past only). For the first ``long_window`` samples the
    long-run statistics use a growing-window average, which keeps early estimates
    unbiased instead of anchored at zero. ``n`` is the 1-based count of samples the
    stream has seen; the detector passes its own counter so that the streams share one.
    The three numbers of each stream (short average, long-run mean and variance) live in
    one flat array: a few hundred bytes less per series than one object per stream. The
    array may be the owner's, shared from position ``base`` on (one array per series).
    """

    __slots__ = ("_p", "base", "s", "streams")

    def __init__(
        self,
        params: LikelihoodParams,
        streams: int,
        storage: array[float] | None = None,
        base: int = 0,
    ) -> None:
        self._p = params
        self.streams = streams
        self.base = base
        self.s = array("d", bytes(24 * streams)) if storage is None else storage

    def update(self, k: int, raw: float, n: int) -> float:
        """Learn ``raw`` (the ``n``-th value of stream ``k``); surprise of the new average."""
        return update_stream(self._p, self.s, self.base + 3 * k, raw, n)

    def to_state(self) -> list[list[float]]:
        """Compact JSON-friendly state: ``[short, mean, var]`` per stream."""
        s, base = self.s, self.base
        return [[s[i], s[i + 1], s[i + 2]] for i in range(base, base + 3 * self.streams, 3)]

    def load_state(self, state: list[list[float]]) -> None:
        """Restore what :meth:`to_state` produced (the parameters come from config)."""
        if len(state) != self.streams:
            raise ValueError("wrong number of likelihood streams")
        numbers = [float(x) for stream in state for x in stream[:3]]
        if len(numbers) != 3 * self.streams:
            raise ValueError("a likelihood stream needs three numbers")
        self.s[self.base : self.base + len(numbers)] = array("d", numbers)
