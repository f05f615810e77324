"""A series chart: values inside the plot, the band drawn between anomalies, every anomaly a
dot labelled with its value and band, nothing drawn from values that are not numbers."""

from __future__ import annotations

import math

from services.gateway.console.charts import HEIGHT, WIDTH, Marked, Sample, draw

START = 1_780_000_000.0


def _inside(x: float, y: float) -> bool:
    return 0 <= x <= WIDTH and 0 <= y <= HEIGHT


def test_values_and_anomalies_are_drawn_inside_the_plot_with_the_spike_above_the_band() -> None:
    samples = [Sample(START + 60 * i, 35.0 + (i % 3)) for i in range(100)]
    spike = Marked(START + 6000, 97.0, 26.0, 44.0, "critical", "a1")
    chart = draw(samples, [spike])
    points = [p.split(",") for p in chart.values_path[1:].split(" L")]
    assert len(points) == 100
    assert all(_inside(float(x), float(y)) for x, y in points)
    (dot,) = chart.dots
    assert _inside(dot.x, dot.y) and dot.y < dot.band_top < dot.band_bottom  # SVG y grows down
    assert dot.label.endswith("critical: 97 (expected 26 to 44)")
    assert chart.band_path == ""  # one anomaly: a whisker, no band to join


def test_the_band_joins_two_or_more_anomalies_and_ticks_cover_the_range() -> None:
    anomalies = [
        Marked(START, 90.0, 20.0, 40.0, "high"),
        Marked(START + 600, 5.0, 22.0, 41.0, "medium"),
    ]
    chart = draw([], anomalies)
    assert chart.band_path.startswith("M") and chart.band_path.endswith(" Z")
    labels = [float(t.label) for t in chart.y_ticks]
    assert min(labels) <= 5.0 and max(labels) >= 90.0
    xs = [t.at for t in chart.x_ticks]
    assert xs == sorted(xs) and chart.x_ticks[0].label == "20:26"  # UTC of START


def test_non_finite_values_are_left_out_and_nothing_at_all_is_an_empty_chart() -> None:
    chart = draw([Sample(START, math.nan), Sample(START + 60, math.inf)], [])
    assert chart.empty
    one = draw([Sample(START, 3.0)], [])
    assert not one.empty and one.values_path.count("L") == 0


def test_an_alert_has_no_band_and_is_not_joined_into_the_detectors() -> None:
    """An Alertmanager alert's event gives its value as both bounds: no band to draw."""
    anomalies = [
        Marked(START, 90.0, 20.0, 40.0, "high"),
        Marked(START + 300, 97.2, 97.2, 97.2, "critical", "alert-1"),
        Marked(START + 600, 95.0, 22.0, 41.0, "high"),
    ]
    chart = draw([], anomalies)
    corners = chart.band_path.removeprefix("M").removesuffix(" Z").split(" L")
    assert len(corners) == 4  # the two detector anomalies, above and below
    assert chart.dots[1].label.endswith("critical: 97.2 (an alert, no expected range)")
    assert draw([], anomalies[:2]).band_path == ""
