"""Reading what Prometheus sends: headers, snappy, protobuf; and saying why when it is not."""

from __future__ import annotations

import math

import pytest

from services.gateway.remote_write_decode import (
    MalformedWriteError,
    UnsupportedWriteError,
    decode,
)
from services.gateway.remote_write_proto import MetricType
from tests.support.remote_write import snappy, write_request

HEADERS = {"content-encoding": "snappy", "content-type": "application/x-protobuf"}
LIMIT = 1 << 20


def test_a_prometheus_body_decodes_to_its_series_samples_and_metadata() -> None:
    raw = write_request(
        [
            ({"__name__": "up", "instance": "web-1:9100"}, [(1_700_000_000_000, 1.0)]),
            ({"__name__": "http_requests_total", "job": "api"}, [(1, 2.5), (2, math.inf)]),
        ],
        {"http_requests": MetricType.COUNTER},
    )
    decoded = decode(HEADERS, snappy(raw), LIMIT)
    assert [s.labels for s in decoded.series] == [
        {"__name__": "up", "instance": "web-1:9100"},
        {"__name__": "http_requests_total", "job": "api"},
    ]
    assert decoded.series[0].samples == [(1_700_000_000_000, 1.0)]
    assert decoded.series[1].samples == [(1, 2.5), (2, math.inf)]
    assert decoded.metadata == {"http_requests": MetricType.COUNTER}


def test_the_proto_parameter_of_remote_write_1_0_is_accepted() -> None:
    headers = {**HEADERS, "content-type": "application/x-protobuf;proto=prometheus.WriteRequest"}
    assert decode(headers, snappy(write_request([])), LIMIT).series == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xff\xff\xff\xff\xff", "not a snappy block"),
        (b"\x05abc", "not a snappy block"),
        (snappy(b"\x0a\xff\xff\xff\x0f"), "not a protobuf WriteRequest"),
    ],
)
def test_a_malformed_body_is_refused_naming_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedWriteError, match=reason) as refused:
        decode(HEADERS, body, LIMIT)
    assert refused.value.status == 400


def test_a_body_that_would_uncompress_past_the_limit_is_refused_unread() -> None:
    big = snappy(write_request([({"__name__": "x" * 5000, "job": "a"}, [(1, 1.0)])]))
    assert len(big) < 1024
    with pytest.raises(MalformedWriteError, match="at most 1024 are accepted"):
        decode(HEADERS, big, 1024)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"content-type": "application/x-protobuf"}, "Content-Encoding: \\(none\\)"),
        ({**HEADERS, "content-encoding": "gzip"}, "Content-Encoding: gzip"),
        ({**HEADERS, "content-type": "application/json"}, "Content-Type: application/json"),
        (
            {
                **HEADERS,
                "content-type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            },
            "only remote write 1.0",
        ),
    ],
)
def test_what_is_not_remote_write_1_0_is_unsupported(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(UnsupportedWriteError, match=reason) as refused:
        decode(headers, snappy(write_request([])), LIMIT)
    assert refused.value.status == 415
