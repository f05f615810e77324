"""Reading history from a metrics store: Prometheus range chunks under its per-series limit,
the allow list of training sources, the CloudWatch series spelling, times and durations."""

from __future__ import annotations

import pytest

from scops.backtest import BacktestError
from scops.backtest_history import parse_duration, parse_when
from services.detector.history_cloudwatch import CloudWatchSeries
from shared.history_series import HistoryError, check_http_url, url_allowed
from shared.prometheus_history import MAX_POINTS_PER_QUERY, chunks


def test_a_long_range_is_split_into_queries_prometheus_accepts_on_one_grid() -> None:
    ranges = chunks(0.0, 25_000.0, 1.0)
    assert ranges == [(0.0, 10_999.0), (11_000.0, 21_999.0), (22_000.0, 25_000.0)]
    assert all((end - start) / 1.0 + 1 <= MAX_POINTS_PER_QUERY for start, end in ranges)
    assert chunks(0.0, 10_999.0, 1.0) == [(0.0, 10_999.0)]
    assert chunks(10.0, 10.0, 60.0) == [(10.0, 10.0)]


def test_a_backwards_range_or_a_zero_step_is_refused() -> None:
    with pytest.raises(HistoryError, match="before its start"):
        chunks(10.0, 0.0, 1.0)
    with pytest.raises(HistoryError, match="positive"):
        chunks(0.0, 10.0, 0.0)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://prom:9090", True),
        ("http://PROM:9090/", True),
        ("http://prom:9090/sub/path", True),
        ("https://prom:9090", False),  # another scheme
        ("http://prom:9091", False),  # another port
        ("http://prom:909", False),
        ("http://prom.evil:9090", False),
        ("http://prom:9090/../x", False),
        ("http://prom:9090//x", False),
        ("http://prom:9090/%2e%2e/x", False),
    ],
)
def test_only_urls_under_an_allowed_prefix_are_read(url: str, allowed: bool) -> None:
    assert url_allowed(check_http_url(url), ["http://prom:9090/"]) is allowed
    assert url_allowed(check_http_url(url), []) is False


def test_an_allowed_prefix_with_a_path_allows_only_what_is_under_it() -> None:
    prefixes = ["http://gw:80/prometheus"]
    assert url_allowed("http://gw:80/prometheus", prefixes)
    assert url_allowed("http://gw:80/prometheus/tenant", prefixes)
    assert not url_allowed("http://gw:80/prometheus-admin", prefixes)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://x",
        "http://",
        "http://u:p@prom:9090",
        "http://p/?q=1",
        "http://prom:90901",
        "http://prom:port",
        "http://[::1",
    ],
)
def test_a_url_that_is_not_plain_http_is_refused(url: str) -> None:
    with pytest.raises(HistoryError):
        check_http_url(url)


def test_a_cloudwatch_series_is_spelt_namespace_metric_dimensions() -> None:
    series = CloudWatchSeries.parse("AWS/EC2:CPUUtilization:InstanceId=i-0abc")
    assert series == CloudWatchSeries("AWS/EC2", "CPUUtilization", (("InstanceId", "i-0abc"),))
    assert series.product_metric() == "cpu_utilization"
    assert CloudWatchSeries.parse("Custom:QueueDepth:Q=a,Env=prod").product_metric() == (
        "queue_depth"
    )
    for bad in ("AWS/EC2:CPUUtilization", "AWS/EC2::InstanceId=i", "AWS/EC2:CPU:InstanceId="):
        with pytest.raises(HistoryError, match="NAMESPACE:METRIC:DIMENSION=VALUE"):
            CloudWatchSeries.parse(bad)


def test_times_and_durations_read_as_a_person_writes_them() -> None:
    assert parse_duration("90", "--step") == 90
    assert parse_duration("5m", "--step") == 300
    assert parse_when("now-1h", "--start", now=10_000) == 6_400
    assert parse_when("now", "--end", now=10_000) == 10_000
    assert parse_when("1970-01-01T01:00:00Z", "--start") == 3600
    for bad in ("0", "-5m", "5 minutes"):
        with pytest.raises(BacktestError, match="--step"):
            parse_duration(bad, "--step")
    with pytest.raises(BacktestError, match="--start 'yesterday'"):
        parse_when("yesterday", "--start")
