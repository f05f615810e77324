"""Reading a remote-write 1.0 request: headers, snappy block, protobuf ``WriteRequest`` (no I/O).

Errors (all :class:`RemoteWriteError`, each answered with its ``status`` and a message naming
the reason; Prometheus does not retry a 4xx, so only a request that can never succeed is one):

- :class:`UnsupportedWriteError` (415): not ``Content-Encoding: snappy``, not
  ``application/x-protobuf``, or a remote-write 2.0 message
  (``proto=io.prometheus.write.v2.Request``);
- :class:`MalformedWriteError` (400): the body is not a snappy block, decodes to more than the
  accepted size, is not a ``WriteRequest``, or holds none of its fields (only fields of some
  other message: a 204 would tell the sender its samples were stored);
- :class:`TooManyItemsError` (413): more series, labels and samples than one request may
  hold (:data:`MAX_ITEMS`). Counted on the wire before anything is built: a sample can take
  two bytes there and a hundred in memory, so a small body must not become gigabytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


class TooManyItemsError(RemoteWriteError):
    status = 413


# Series, labels, samples, exemplars and histograms in one request, together. Prometheus sends
# at most max_samples_per_send (2,000 by default) samples a request, each series with its
# labels: ten times that with twenty labels a series stays far below.
MAX_ITEMS = 500_000


@dataclass(frozen=True, slots=True)
class Series:
    """One ``TimeSeries``: its labels (``__name__`` included) and samples as (ms, value)."""

    labels: dict[str, str]
    samples: list[tuple[int, float]]
    histograms: int = 0  # native histogram samples, not read (see remote_write_mapping)
    repeated_label: bool = False  # a label name given twice: the series is dropped as invalid


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
    version = headers.get("x-prometheus-remote-write-version", "").strip()
    if version and not version.startswith(("0.", "1.")):
        raise UnsupportedWriteError(
            f"X-Prometheus-Remote-Write-Version: {version}; only remote write 1.0 "
            f"({ACCEPTED_PROTO}) is accepted (set protobuf_message: {ACCEPTED_PROTO} in Prometheus)"
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "proto" and value.strip().strip('"') != ACCEPTED_PROTO:
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


def _varint(raw: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(raw) or shift > 63:
            raise IndexError("truncated varint")
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(raw: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(number, wire type, payload start, payload end) of each field in ``raw[start:end]``;
    IndexError where the bytes are not protobuf fields."""
    at = start
    while at < end:
        tag, at = _varint(raw, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, at = _varint(raw, at)
            yield number, wire, at, at
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        elif wire == 2:
            length, at = _varint(raw, at)
            yield number, wire, at, at + length
            at += length
        else:  # groups: not in a WriteRequest; the parser says what is wrong
            raise IndexError("group")
    if at != end:
        raise IndexError("truncated field")


def check_items(raw: bytes, max_items: int = MAX_ITEMS) -> None:
    """Refuse, before anything is built, a request holding more than ``max_items`` series,
    labels and samples. Every one takes at least two bytes on the wire, so a body of at most
    ``2 * max_items`` bytes is not scanned (ordinary requests pay nothing). A body the scan
    cannot walk is left to the parser, which names what is wrong."""
    if len(raw) <= 2 * max_items:
        return
    items = 0
    try:
        for number, wire, start, end in _fields(raw, 0, len(raw)):
            items += 1
            if number == 1 and wire == 2:
                for _ in _fields(raw, start, end):
                    items += 1
                    if items > max_items:
                        break
            if items > max_items:
                raise TooManyItemsError(
                    f"body: more than {max_items} series, labels and samples in one request "
                    "(lower max_samples_per_send in Prometheus' queue_config)"
                )
    except IndexError:
        return


def parse(raw: bytes) -> DecodedWrite:
    check_items(raw)
    try:
        request = WriteRequest.FromString(raw)
    except DecodeError as exc:
        raise MalformedWriteError(f"body: not a protobuf WriteRequest ({exc})") from None
    if raw and not request.timeseries and not request.metadata:
        # Only fields of some other message (remote write 2.0 without its content type): a
        # 204 would tell the sender its samples were stored.
        raise MalformedWriteError(
            "body: no timeseries (field 1) or metadata (field 3) of a remote write 1.0 "
            "WriteRequest: not a message this endpoint reads"
        )
    decoded = DecodedWrite()
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        decoded.series.append(
            Series(
                labels=labels,
                samples=[(s.timestamp, s.value) for s in series.samples],
                histograms=len(series.histograms),
                # A label named twice: Prometheus' own receiver refuses such a series, and
                # keeping either value would write it under a name it may not have.
                repeated_label=len(labels) != len(series.labels),
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
