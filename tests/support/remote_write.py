"""Building Prometheus remote-write requests as Prometheus sends them (snappy + protobuf)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cramjam

from services.gateway.remote_write_proto import MetricType, WriteRequest

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

SeriesSpec = tuple[Mapping[str, str], Sequence[tuple[int, float]]]


def write_request(
    series: Sequence[SeriesSpec], metadata: Mapping[str, MetricType] | None = None
) -> bytes:
    """The protobuf bytes of a WriteRequest: (labels, [(ms, value), ...]) per series."""
    request = WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name, text in sorted(labels.items()):
            ts.labels.add(name=name, value=text)
        for at_ms, value in samples:
            ts.samples.add(timestamp=at_ms, value=value)
    for family, kind in (metadata or {}).items():
        request.metadata.add(metric_family_name=family, type=int(kind))
    raw: bytes = request.SerializeToString()
    return raw


def snappy(raw: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(raw))
