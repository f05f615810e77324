"""Which Prometheus series become which samples: resource, name, labels, kinds, drops, rates."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from services.gateway.remote_write_decode import DecodedWrite, Series
from services.gateway.remote_write_mapping import (
    CounterPoint,
    Mapped,
    SeriesMapping,
    counter_rates,
    map_write,
)
from services.gateway.remote_write_proto import MetricType
from shared.time_bounds import TimeBounds

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def mapped(
    *series: tuple[Mapping[str, str], Sequence[tuple[int, float]]],
    mapping: SeriesMapping | None = None,
    metadata: Mapping[str, MetricType] | None = None,
) -> Mapped:
    write = DecodedWrite([Series(dict(labels), list(samples)) for labels, samples in series])
    write.metadata.update(metadata or {})
    return map_write(write, mapping or SeriesMapping(), TimeBounds(), NOW)


def at(seconds: float) -> list[tuple[int, float]]:
    return [(NOW_MS + int(seconds * 1000), 1.0)]


def test_the_resource_is_the_first_of_instance_pod_job_the_series_carries() -> None:
    out = mapped(
        ({"__name__": "load", "instance": "web-1:9100", "pod": "p", "job": "node"}, at(0)),
        ({"__name__": "load", "pod": "api-7f9", "job": "api"}, at(0)),
        ({"__name__": "load", "job": "batch"}, at(0)),
        ({"__name__": "load", "env": "prod"}, at(0)),
    )
    assert [s.resource_id for s in out.gauges] == ["web-1:9100", "api-7f9", "batch"]
    assert out.dropped == {"no_resource_label": 1}


def test_the_resource_labels_are_configurable() -> None:
    out = mapped(
        ({"__name__": "load", "instance": "i", "host": "db-2"}, at(0)),
        mapping=SeriesMapping(resource_labels=("host",)),
    )
    assert out.gauges[0].resource_id == "db-2"


def test_only_the_allowed_labels_travel_with_a_sample() -> None:
    out = mapped(({"__name__": "load", "job": "node", "secret_ish": "x", "cpu": "0"}, at(0)))
    assert out.gauges[0].metric == "load"
    assert out.gauges[0].labels == {"job": "node"}


def test_stale_markers_are_ignored_and_non_finite_values_dropped_and_counted() -> None:
    labels = {"__name__": "load", "job": "node"}
    out = mapped(
        (
            labels,
            [(NOW_MS, STALE), (NOW_MS + 1, math.nan), (NOW_MS + 2, math.inf), (NOW_MS + 3, 4.0)],
        )
    )
    assert [s.value for s in out.gauges] == [4.0]
    assert out.dropped == {"stale_marker": 1, "non_finite": 2}


def test_samples_outside_the_time_window_are_dropped_and_the_rest_kept() -> None:
    labels = {"__name__": "load", "job": "node"}
    far_future = NOW_MS + 3_600_000
    long_ago = NOW_MS - 30 * 86_400_000
    out = mapped((labels, [(far_future, 1.0), (long_ago, 2.0), (NOW_MS, 3.0), (2**62, 4.0)]))
    assert [s.value for s in out.gauges] == [3.0]
    assert out.gauges[0].timestamp == NOW
    assert out.dropped == {"out_of_time_window": 3}


def test_include_and_exclude_selectors_choose_the_series_scored() -> None:
    selection = SeriesMapping(
        include_metrics=re.compile("node_.*|up"),
        exclude_metrics=re.compile("node_scrape_.*"),
        include_labels={"job": re.compile("node|api")},
        exclude_labels={"mountpoint": re.compile("/run.*")},
    )
    out = mapped(
        ({"__name__": "node_load1", "job": "node"}, at(0)),
        ({"__name__": "up", "job": "api"}, at(0)),
        ({"__name__": "go_goroutines", "job": "node"}, at(0)),
        ({"__name__": "node_scrape_duration", "job": "node"}, at(0)),
        ({"__name__": "node_load1", "job": "batch"}, at(0)),
        ({"__name__": "node_load1"}, at(0)),
        ({"__name__": "node_fs_free", "job": "node", "mountpoint": "/run/user"}, at(0)),
        ({"__name__": "node_fs_free", "job": "node", "mountpoint": "/"}, at(0)),
        mapping=selection,
    )
    assert [s.metric for s in out.gauges] == ["node_load1", "up", "node_fs_free"]
    assert out.dropped == {"not_selected": 5}


def test_counters_by_suffix_or_metadata_wait_for_their_rate_and_gauges_do_not() -> None:
    out = mapped(
        ({"__name__": "http_requests_total", "job": "api"}, at(0)),
        ({"__name__": "errors", "job": "api"}, at(0)),
        ({"__name__": "queue_total", "job": "api"}, at(0)),
        ({"__name__": "temperature", "job": "api"}, at(0)),
        metadata={"errors": MetricType.COUNTER, "queue_total": MetricType.GAUGE},
    )
    assert sorted(c.metric for c in out.counters.values()) == [
        "errors:rate",
        "http_requests_total:rate",
    ]
    assert sorted(s.metric for s in out.gauges) == ["queue_total", "temperature"]


def test_histogram_buckets_are_skipped_sum_and_count_are_rates_quantiles_gauges() -> None:
    out = mapped(
        ({"__name__": "latency_seconds_bucket", "le": "0.5", "job": "api"}, at(0)),
        ({"__name__": "latency_seconds_sum", "job": "api"}, at(0)),
        ({"__name__": "latency_seconds_count", "job": "api"}, at(0)),
        ({"__name__": "rpc_seconds", "quantile": "0.99", "job": "api"}, at(0)),
        ({"__name__": "rpc_seconds", "quantile": "0.5", "job": "api"}, at(0)),
        metadata={"latency_seconds": MetricType.HISTOGRAM, "rpc_seconds": MetricType.SUMMARY},
    )
    assert out.dropped == {"histogram_bucket": 1}
    assert sorted(c.metric for c in out.counters.values()) == [
        "latency_seconds_count:rate",
        "latency_seconds_sum:rate",
    ]
    assert [s.metric for s in out.gauges] == ["rpc_seconds:0.99", "rpc_seconds:0.5"]


def test_a_series_the_product_cannot_name_is_dropped_not_the_request() -> None:
    out = mapped(
        ({"__name__": "load", "job": "bad\njob"}, at(0)),
        ({"__name__": ":leading_colon", "job": "node"}, at(0)),
        ({"__name__": "load", "instance": "web 1"}, at(0)),
        ({"__name__": "load", "job": "node"}, at(0)),
    )
    assert len(out.gauges) == 1
    assert out.dropped == {"invalid_name_or_labels": 3}


def test_counter_rates_come_from_consecutive_points_and_survive_a_reset() -> None:
    labels = {"__name__": "requests_total", "job": "api"}
    points = [(NOW_MS, 100.0), (NOW_MS + 10_000, 150.0), (NOW_MS + 20_000, 20.0)]
    out = mapped((labels, points))
    samples, latest, unrated = counter_rates(out.counters, {})
    assert [(s.metric, s.value) for s in samples] == [
        ("requests_total:rate", 5.0),
        ("requests_total:rate", 2.0),
    ]
    assert unrated == {"counter_first_point": 1}
    (key,) = out.counters
    assert latest == {key: CounterPoint(NOW_MS + 20_000, 20.0)}


def test_the_next_request_continues_from_the_last_point_of_the_previous_one() -> None:
    labels = {"__name__": "requests_total", "job": "api"}
    first = mapped((labels, [(NOW_MS, 100.0)]))
    _, latest, _ = counter_rates(first.counters, {})
    second = mapped((labels, [(NOW_MS, 100.0), (NOW_MS + 2_000, 104.0)]))
    samples, _, unrated = counter_rates(second.counters, latest)
    assert [s.value for s in samples] == [2.0]
    assert samples[0].timestamp == datetime.fromtimestamp((NOW_MS + 2_000) / 1000, UTC)
    assert unrated == {"counter_out_of_order": 1}


def test_a_rate_too_large_to_score_is_dropped_and_counted_though_its_points_were_not() -> None:
    """Both points are within the bound a value may have (1e100); their rate, 1e98 in a
    millisecond, is not: the detector could not score it, so it is not written."""
    labels = {"__name__": "bytes_sent_total", "job": "node"}
    points = [(NOW_MS, 0.0), (NOW_MS + 1, 1e98), (NOW_MS + 1_001, 2e98)]
    samples, _, unrated = counter_rates(mapped((labels, points)).counters, {})
    assert [s.value for s in samples] == [1e98]
    assert unrated == {"counter_first_point": 1, "non_finite": 1}
