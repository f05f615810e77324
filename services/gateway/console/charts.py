"""One series drawn as inline SVG: recent values, the expected band, the anomalies on it.

Pure geometry (no I/O): times and values in, coordinates and path strings out, rendered by
``templates/series.html``. The band is the detector's expected range as it stood at each
anomaly (the only moments it is published), joined across the chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.readable_numbers import number, value_and_band

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
TICKS = 5


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    value: float


@dataclass(frozen=True)
class Marked:
    at: float
    value: float
    low: float
    high: float
    severity: str
    anomaly_id: str = ""

    @property
    def banded(self) -> bool:
        """An alert has no band: its value stands for both bounds."""
        return not self.low == self.high == self.value


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    severity: str
    label: str
    anomaly_id: str
    band_top: float
    band_bottom: float


@dataclass(frozen=True)
class Tick:
    at: float  # x for time ticks, y for value ticks
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    values_path: str = ""
    band_path: str = ""
    dots: list[Dot] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    plot: tuple[int, int, int, int] = (LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM)

    @property
    def empty(self) -> bool:
        return not self.values_path and not self.dots


def _finite(*numbers: float) -> bool:
    return all(math.isfinite(n) for n in numbers)


# Values are drawn within +-1e300: any finite value is accepted, and the span of two near the
# ends of a float's range (+-1.7e308) is not a finite number, which would draw nothing.
_DRAWABLE = 1e300


def _drawable(value: float) -> float:
    return -_DRAWABLE if value < -_DRAWABLE else (_DRAWABLE if value > _DRAWABLE else value)


def _span(low: float, high: float) -> tuple[float, float]:
    if high - low < 1e-9:
        pad = abs(high) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _number(value: float) -> str:
    return number(value, 3)  # an axis tick: three digits are plenty


def draw(samples: list[Sample], anomalies: list[Marked]) -> Chart:
    samples = sorted((s for s in samples if _finite(s.at, s.value)), key=lambda s: s.at)
    anomalies = sorted(
        (a for a in anomalies if _finite(a.at, a.value, a.low, a.high)), key=lambda a: a.at
    )
    chart = Chart()
    times = [s.at for s in samples] + [a.at for a in anomalies]
    values = [s.value for s in samples]
    for a in anomalies:
        values += [a.value, a.low, a.high]
    if not times:
        return chart
    t0, t1 = min(times), max(times)
    if t1 - t0 < 1:
        t0, t1 = t0 - 30, t1 + 30
    v0, v1 = _span(_drawable(min(values)), _drawable(max(values)))
    left, top, right, bottom = chart.plot

    def x(at: float) -> float:
        return round(left + (at - t0) / (t1 - t0) * (right - left), 1)

    def y(value: float) -> float:
        return round(bottom - (_drawable(value) - v0) / (v1 - v0) * (bottom - top), 1)

    if samples:
        chart.values_path = "M" + " L".join(f"{x(s.at)},{y(s.value)}" for s in samples)
    banded = [a for a in anomalies if a.banded]  # an alert's is not joined into the band
    if len(banded) >= 2:
        upper = [f"{x(a.at)},{y(a.high)}" for a in banded]
        lower = [f"{x(a.at)},{y(a.low)}" for a in reversed(banded)]
        chart.band_path = "M" + " L".join(upper + lower) + " Z"
    for a in anomalies:
        when = datetime.fromtimestamp(a.at, UTC).strftime("%H:%M:%S")
        shown_value, shown_low, shown_high = value_and_band(a.value, a.low, a.high)
        expected = (
            f"expected {shown_low} to {shown_high}" if a.banded else "an alert, no expected range"
        )
        label = f"{when} {a.severity}: {shown_value} ({expected})"
        chart.dots.append(
            Dot(x(a.at), y(a.value), a.severity, label, a.anomaly_id, y(a.high), y(a.low))
        )
    for i in range(TICKS):
        at = t0 + (t1 - t0) * i / (TICKS - 1)
        stamp = datetime.fromtimestamp(at, UTC).strftime(
            "%H:%M" if t1 - t0 < 86400 else "%m-%d %H:%M"
        )
        chart.x_ticks.append(Tick(x(at), stamp))
        value = v0 + (v1 - v0) * i / (TICKS - 1)
        chart.y_ticks.append(Tick(y(value), _number(value)))
    return chart
