"""The PromQL tokenizer the deployment tests rely on to find the metrics a query reads."""

from __future__ import annotations

import pytest

from tests.support.exposition import parse, series_names
from tests.support.promql import (
    PromQLError,
    Selector,
    metric_names,
    selectors,
    substitute_grafana_variables,
)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        (
            'sum(rate(scops_events_published_total{stream="metrics"}[5m]))',
            {"scops_events_published_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, stage) (rate(x_bucket[$__rate_interval])))",
            {"x_bucket"},
        ),
        ("max by (stream, group) (lag) > 1000 and deriv(lag[10m]) > 0", {"lag"}),
        ("a / on (job) group_left (instance) b", {"a", "b"}),
        ("a unless ignoring (x) b or c offset 5m", {"a", "b", "c"}),
        ("sum without (instance) (a) / clamp_min(sum(b), 1e-9)", {"a", "b"}),
        ('count_values("v", a)', {"a"}),
        ("topk(3, a) * 60", {"a"}),
        ("max_over_time(a[1h30m:1m])", {"a"}),
        ("scops:stream_lag:max > 500000", {"scops:stream_lag:max"}),
        ('sum(increase(a{rule="circuit_breaker"}[15m])) or vector(0)', {"a"}),
        ('a{name=~"sum|by"} and bool b', {"a", "b"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_selectors_keep_their_matchers() -> None:
    expr = 'max(lag{stream="metrics",group="detector"}) + max(pending)'
    assert selectors(expr) == [
        Selector("lag", '{stream="metrics", group="detector"}'),
        Selector("pending"),
    ]


def test_nameless_selectors_are_refused() -> None:
    with pytest.raises(PromQLError):
        selectors('{__name__="x"}')


def test_grafana_variables_become_durations() -> None:
    assert substitute_grafana_variables("rate(a[$__rate_interval])") == "rate(a[1m])"
    with pytest.raises(PromQLError):
        substitute_grafana_variables('a{job="$job"}')


EXPOSITION = """\
# HELP c_total Things.
# TYPE c_total counter
c_total{stream="metrics"} 3.0
c_created{stream="metrics"} 1.7e9
# HELP h Time.
# TYPE h histogram
h_bucket{le="0.1",stage="anomaly"} 1.0
h_bucket{le="+Inf",stage="anomaly"} 1.0
h_count{stage="anomaly"} 1.0
h_sum{stage="anomaly"} 0.05
# HELP empty_total Nothing yet.
# TYPE empty_total counter
# HELP s Sizes.
# TYPE s summary
s_count{handler="/x"} 1.0
s_sum{handler="/x"} 10.0
# HELP s_created Sizes.
# TYPE s_created gauge
s_created{handler="/x"} 1.7e9
# HELP g A gauge.
# TYPE g gauge
g 2.0
"""


def test_exposition_families() -> None:
    families = parse(EXPOSITION)
    assert sorted(families) == ["c_total", "empty_total", "g", "h", "s"]
    assert (families["c_total"].kind, families["c_total"].labels) == ("counter", {"stream"})
    assert families["h"].labels == {"stage"}
    assert (families["empty_total"].samples, families["s"].labels) == (0, {"handler"})
    assert {"h_bucket", "h_sum", "h_count", "c_total", "empty_total", "g"} <= series_names(families)
