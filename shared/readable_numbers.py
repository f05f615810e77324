"""Numbers as an on-call reader takes them in: one way for every message, answer and chart.

Four significant digits are enough to read a value at a glance, but written with ``.4g`` a
request count of 12,345 becomes ``1.234e+04`` and, beside an expected band whose top is
12,344, reads as equal to the edge it is said to be beyond. So large values are written whole
with thousands separators, and a value shown with its band gets as many digits as keep
different numbers apart.
"""

from __future__ import annotations

import math

DIGITS = 4  # significant digits of a value read on its own
_WHOLE_FROM = 1e3  # from here up to _WHOLE_UNTIL a value is written whole: 12,345
_WHOLE_UNTIL = 1e15
_MOST_DIGITS = 17  # enough for any two different floats to read differently


def number(value: float, digits: int = DIGITS) -> str:
    """``value`` with ``digits`` significant digits: ``0.1234``, ``97.5``, ``12,345``,
    ``12,345.6`` (more digits asked of a large value go after the point), ``1.5e+20``."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if _WHOLE_FROM <= magnitude < _WHOLE_UNTIL:
        whole_digits = len(str(int(magnitude)))
        return f"{value:,.{max(0, digits - whole_digits)}f}"
    return f"{value:.{digits}g}"


def numbers_apart(*values: float) -> list[str]:
    """The values written with the fewest digits (``DIGITS`` at least) at which different
    values read differently: a value just beyond its band never reads as the band's edge."""
    texts = [number(v) for v in values]
    for digits in range(DIGITS, _MOST_DIGITS + 1):
        texts = [number(v, digits) for v in values]
        if _apart(values, texts):
            break
    return texts


def value_and_band(value: float, low: float, high: float) -> tuple[str, str, str]:
    """A value and its expected band, each edge told apart from the value."""
    shown_value, shown_low, shown_high = numbers_apart(value, low, high)
    return shown_value, shown_low, shown_high


def _apart(values: tuple[float, ...], texts: list[str]) -> bool:
    seen: dict[str, float] = {}
    for value, text in zip(values, texts, strict=True):
        other = seen.setdefault(text, value)
        if other != value and not (math.isnan(other) and math.isnan(value)):
            return False
    return True
