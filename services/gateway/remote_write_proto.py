"""Prometheus remote-write 1.0 messages (``prometheus/prompb``: ``remote.proto``, ``types.proto``).

The messages are declared here with the ``protobuf`` runtime's descriptor API rather than
compiled with ``protoc``: the field numbers and types are those of the published files, so
the wire format is Prometheus', and no generated module has to be kept in step with the
installed runtime. Only what a 1.0 sender puts on the wire is declared: ``WriteRequest``
(``timeseries`` = 1, ``metadata`` = 3), ``TimeSeries``, ``Label``, ``Sample``, ``Exemplar``,
``MetricMetadata`` and the native ``Histogram`` with its ``BucketSpan``. Fields a newer sender
adds are kept as unknown fields and ignored.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "prometheus"


class MetricType(IntEnum):
    """``MetricMetadata.MetricType`` of ``types.proto``."""

    UNKNOWN = 0
    COUNTER = 1
    GAUGE = 2
    HISTOGRAM = 3
    GAUGEHISTOGRAM = 4
    SUMMARY = 5
    INFO = 6
    STATESET = 7


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    kind: int,
    *,
    repeated: bool = False,
    type_name: str = "",
    oneof: int | None = None,
) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"
    if oneof is not None:
        field.oneof_index = oneof


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="smartcloudops/prometheus_remote_write.proto", package=_PACKAGE, syntax="proto3"
    )
    metadata = proto.message_type.add(name="MetricMetadata")
    kind = metadata.enum_type.add(name="MetricType")
    for member in MetricType:
        kind.value.add(name=member.name, number=member.value)
    _field(metadata, "type", 1, _F.TYPE_ENUM, type_name="MetricMetadata.MetricType")
    _field(metadata, "metric_family_name", 2, _F.TYPE_STRING)
    _field(metadata, "help", 4, _F.TYPE_STRING)
    _field(metadata, "unit", 5, _F.TYPE_STRING)

    sample = proto.message_type.add(name="Sample")
    _field(sample, "value", 1, _F.TYPE_DOUBLE)
    _field(sample, "timestamp", 2, _F.TYPE_INT64)  # milliseconds since the epoch

    label = proto.message_type.add(name="Label")
    _field(label, "name", 1, _F.TYPE_STRING)
    _field(label, "value", 2, _F.TYPE_STRING)

    exemplar = proto.message_type.add(name="Exemplar")
    _field(exemplar, "labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name="Label")
    _field(exemplar, "value", 2, _F.TYPE_DOUBLE)
    _field(exemplar, "timestamp", 3, _F.TYPE_INT64)

    span = proto.message_type.add(name="BucketSpan")
    _field(span, "offset", 1, _F.TYPE_SINT32)
    _field(span, "length", 2, _F.TYPE_UINT32)

    histogram = proto.message_type.add(name="Histogram")
    histogram.oneof_decl.add(name="count")
    histogram.oneof_decl.add(name="zero_count")
    reset = histogram.enum_type.add(name="ResetHint")
    for number, name in enumerate(("UNKNOWN", "YES", "NO", "GAUGE")):
        reset.value.add(name=name, number=number)
    _field(histogram, "count_int", 1, _F.TYPE_UINT64, oneof=0)
    _field(histogram, "count_float", 2, _F.TYPE_DOUBLE, oneof=0)
    _field(histogram, "sum", 3, _F.TYPE_DOUBLE)
    _field(histogram, "schema", 4, _F.TYPE_SINT32)
    _field(histogram, "zero_threshold", 5, _F.TYPE_DOUBLE)
    _field(histogram, "zero_count_int", 6, _F.TYPE_UINT64, oneof=1)
    _field(histogram, "zero_count_float", 7, _F.TYPE_DOUBLE, oneof=1)
    _field(histogram, "negative_spans", 8, _F.TYPE_MESSAGE, repeated=True, type_name="BucketSpan")
    _field(histogram, "negative_deltas", 9, _F.TYPE_SINT64, repeated=True)
    _field(histogram, "negative_counts", 10, _F.TYPE_DOUBLE, repeated=True)
    _field(histogram, "positive_spans", 11, _F.TYPE_MESSAGE, repeated=True, type_name="BucketSpan")
    _field(histogram, "positive_deltas", 12, _F.TYPE_SINT64, repeated=True)
    _field(histogram, "positive_counts", 13, _F.TYPE_DOUBLE, repeated=True)
    _field(histogram, "reset_hint", 14, _F.TYPE_ENUM, type_name="Histogram.ResetHint")
    _field(histogram, "timestamp", 15, _F.TYPE_INT64)
    _field(histogram, "custom_values", 16, _F.TYPE_DOUBLE, repeated=True)

    series = proto.message_type.add(name="TimeSeries")
    _field(series, "labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name="Label")
    _field(series, "samples", 2, _F.TYPE_MESSAGE, repeated=True, type_name="Sample")
    _field(series, "exemplars", 3, _F.TYPE_MESSAGE, repeated=True, type_name="Exemplar")
    _field(series, "histograms", 4, _F.TYPE_MESSAGE, repeated=True, type_name="Histogram")

    request = proto.message_type.add(name="WriteRequest")
    request.reserved_range.add(start=2, end=3)
    _field(request, "timeseries", 1, _F.TYPE_MESSAGE, repeated=True, type_name="TimeSeries")
    _field(request, "metadata", 3, _F.TYPE_MESSAGE, repeated=True, type_name="MetricMetadata")
    return proto


_POOL = descriptor_pool.DescriptorPool()
_DESCRIPTOR = _POOL.Add(_file())  # type: ignore[no-untyped-call]


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_DESCRIPTOR.message_types_by_name[name])


# Message classes (protobuf's generated classes are untyped to mypy either way).
WriteRequest: Any = _message("WriteRequest")
TimeSeries: Any = _message("TimeSeries")
Label: Any = _message("Label")
Sample: Any = _message("Sample")
MetricMetadata: Any = _message("MetricMetadata")
