"""Reading a remote-write 1.0 request: headers, snappy block, protobuf ``WriteRequest`` (no I/O).

Errors (all :class:`RemoteWriteError`, each answered with its ``status`` and a message naming
the reason; Prometheus does not retry a 4xx, so only a request that can never succeed is one):

- :class:`UnsupportedWriteError` (415): not ``Content-Encoding: snappy``, not
  ``application/x-protobuf``, or a remote-write 2.0 message
  (``proto=io.prometheus.write.v2.Request``);
- :class:`MalformedWriteError` (400): the body is not a snappy block, decodes to more than the
  accepted size, or is not a ``WriteRequest``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cramjam
from google.protobuf.message import DecodeError

from services.gateway.remote_write_proto import MetricType, WriteRequest

ACCEPTED_PROTO = "prometheus.WriteRequest"


class RemoteWriteError(ValueError):
    status = 400


class UnsupportedWriteError(RemoteWriteError):
    status = 415


class MalformedWriteError(RemoteWriteError):
    status = 400


@dataclass(frozen=True, slots=True)
class Series:
    """One ``TimeSeries``: its labels (``__name__`` included) and samples as (ms, value)."""

    labels: dict[str, str]
    samples: list[tuple[int, float]]
    histograms: int = 0  # native histogram samples, not read (see remote_write_mapping)


@dataclass
class DecodedWrite:
    series: list[Series] = field(default_factory=list)
    metadata: dict[str, MetricType] = field(default_factory=dict)  # family name -> type


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse what is not remote-write 1.0 (a missing version header is tolerated)."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding != "snappy":
        raise UnsupportedWriteError(
            f"Content-Encoding: {encoding or '(none)'}; remote write bodies are snappy "
            "block-compressed (Content-Encoding: snappy)"
        )
    media, _, params = headers.get("content-type", "").partition(";")
    if media.strip().lower() != "application/x-protobuf":
        raise UnsupportedWriteError(
            f"Content-Type: {media.strip() or '(none)'}; expected application/x-protobuf"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "proto" and value.strip() != ACCEPTED_PROTO:
            raise UnsupportedWriteError(
                f"proto={value.strip()} is not accepted; only remote write 1.0 "
                f"({ACCEPTED_PROTO}) is (set protobuf_message: {ACCEPTED_PROTO} in Prometheus)"
            )


def decompress(body: bytes, max_bytes: int) -> bytes:
    """The snappy block ``body`` uncompressed, refused before it is if it would exceed
    ``max_bytes`` (the block states its length first: a small body cannot balloon)."""
    if not body:
        raise MalformedWriteError("body: empty; expected a snappy-compressed WriteRequest")
    try:
        length = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise MalformedWriteError(f"body: not a snappy block ({exc})") from None
    if length > max_bytes:
        raise MalformedWriteError(
            f"body: {length} bytes once uncompressed; at most {max_bytes} are accepted "
            "(lower max_samples_per_send in Prometheus' queue_config)"
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise MalformedWriteError(f"body: not a snappy block ({exc})") from None


def parse(raw: bytes) -> DecodedWrite:
    try:
        request = WriteRequest.FromString(raw)
    except DecodeError as exc:
        raise MalformedWriteError(f"body: not a protobuf WriteRequest ({exc})") from None
    decoded = DecodedWrite()
    for series in request.timeseries:
        decoded.series.append(
            Series(
                labels={label.name: label.value for label in series.labels},
                samples=[(s.timestamp, s.value) for s in series.samples],
                histograms=len(series.histograms),
            )
        )
    for meta in request.metadata:
        try:
            decoded.metadata[meta.metric_family_name] = MetricType(meta.type)
        except ValueError:
            decoded.metadata[meta.metric_family_name] = MetricType.UNKNOWN
    return decoded


def decode(headers: Mapping[str, str], body: bytes, max_bytes: int) -> DecodedWrite:
    """The request's series and metadata, or a :class:`RemoteWriteError` saying why not."""
    check_headers(headers)
    return parse(decompress(body, max_bytes))
