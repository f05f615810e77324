"""Metric batches on the stream, written and read column by column, without a model per sample.

A ``metrics.batch.v1`` entry of schema 1.1 carries its samples as ``columns`` (see
``shared.events.MetricColumns``): one list of resource ids, one of metric names, one of values,
one of times in microseconds since the epoch, and labels only when some sample has any. The
gateway writes one such entry per shard per request; the detector decodes it with msgspec into
plain lists. Entries of schema 1.0 (``samples``, one object each: written before the upgrade, or
by a producer that builds ``MetricBatch`` models) are still read, through the pydantic model.

The gateway validates every sample before writing, so reading checks the shape (types, columns
of one length, finite values), not every name again.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from shared.events import (
    EPOCH,
    PERSON_MAX,
    SCHEMA_VERSION,
    EventDecodeError,
    MetricBatch,
    major_version,
    new_correlation_id,
)

TYPE = MetricBatch.TYPE
COLUMNS_VERSION = "1.1"


class _Columns(msgspec.Struct, omit_defaults=True):
    resource_id: list[str]
    metric: list[str]
    value: list[float]
    timestamp_us: list[int]
    labels: list[dict[str, str]] | None = None


class _Envelope(msgspec.Struct):
    schema_version: str = SCHEMA_VERSION
    event_id: str = ""
    correlation_id: str = ""
    occurred_at: datetime | None = None
    columns: _Columns | None = None
    sent_by: str | None = None


class _Outgoing(msgspec.Struct, omit_defaults=True):
    schema_version: str
    event_id: str
    correlation_id: str
    occurred_at: datetime
    type: str
    columns: _Columns
    sent_by: str | None = None


class _ResourceColumn(msgspec.Struct):
    resource_id: list[str]


class _Resources(msgspec.Struct):
    columns: _ResourceColumn | None = None


_DECODER = msgspec.json.Decoder(_Envelope)
_RESOURCES = msgspec.json.Decoder(_Resources)
_ENCODER = msgspec.json.Encoder()


@dataclass(slots=True)
class ColumnBatch:
    """One decoded batch: the columns as plain lists, and the event's envelope (what the bus
    binds to its logs and measures age by)."""

    event_id: str
    correlation_id: str
    occurred_at: datetime
    resource_id: list[str]
    metric: list[str]
    value: list[float]
    timestamp_us: list[int]
    labels: list[dict[str, str]] | None = None
    sent_by: str | None = None  # the person whose key sent it (shared.events.SentBy)
    TYPE = TYPE

    def __len__(self) -> int:
        return len(self.resource_id)

    def labels_of(self, index: int) -> dict[str, str]:
        return self.labels[index] if self.labels is not None else {}

    def parts(self, size: int) -> list[ColumnBatch]:
        """The batch cut into consecutive parts of at most ``size`` samples, in order, each
        with the batch's envelope (the batch itself when it is no larger)."""
        if len(self) <= size:
            return [self]
        labels = self.labels
        return [
            ColumnBatch(
                self.event_id,
                self.correlation_id,
                self.occurred_at,
                self.resource_id[start : start + size],
                self.metric[start : start + size],
                self.value[start : start + size],
                self.timestamp_us[start : start + size],
                labels[start : start + size] if labels is not None else None,
                self.sent_by,
            )
            for start in range(0, len(self), size)
        ]


def encode_columns(
    resource_id: list[str],
    metric: list[str],
    value: list[float],
    timestamp_us: list[int],
    labels: list[dict[str, str]] | None,
    correlation_id: str | None = None,
    sent_by: str | None = None,
) -> dict[str, bytes | str]:
    """The stream entry's fields (``type``, ``v``, ``data``) of one batch."""
    if labels is not None and not any(labels):
        labels = None
    body = _Outgoing(
        schema_version=COLUMNS_VERSION,
        event_id=str(uuid.uuid4()),
        correlation_id=correlation_id or new_correlation_id(),
        occurred_at=datetime.now(UTC),
        type=TYPE,
        columns=_Columns(resource_id, metric, value, timestamp_us, labels),
        sent_by=sent_by or None,
    )
    return {"type": TYPE, "v": COLUMNS_VERSION, "data": _ENCODER.encode(body)}


def timestamp_us(at: datetime) -> int:
    """Microseconds since the epoch, exactly (naive times are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def decode_columns(payload: bytes | str) -> ColumnBatch:
    """Read a ``metrics.batch.v1`` payload of either schema into columns."""
    try:
        envelope = _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"invalid {TYPE}: {exc}") from exc
    if major_version(envelope.schema_version) != major_version(SCHEMA_VERSION):
        raise EventDecodeError(
            f"{TYPE} schema_version {envelope.schema_version} is not readable by this version"
        )
    columns = envelope.columns
    if columns is None:
        return _from_samples(payload)
    size = len(columns.resource_id)
    if not size or any(
        len(c) != size for c in (columns.metric, columns.value, columns.timestamp_us)
    ):
        raise EventDecodeError(f"invalid {TYPE}: columns empty or of different lengths")
    if columns.labels is not None and len(columns.labels) != size:
        raise EventDecodeError(f"invalid {TYPE}: labels column of another length")
    # A finite sum means every value is finite (one sum in C instead of a call per value);
    # only an infinite or NaN sum, or one that overflowed, is looked at value by value.
    if not math.isfinite(sum(columns.value)) and not all(map(math.isfinite, columns.value)):
        raise EventDecodeError(f"invalid {TYPE}: a value is not a finite number")
    return ColumnBatch(
        envelope.event_id,
        envelope.correlation_id,
        _utc(envelope.occurred_at),
        columns.resource_id,
        columns.metric,
        columns.value,
        columns.timestamp_us,
        columns.labels,
        (envelope.sent_by or "")[:PERSON_MAX] or None,  # as an anomaly event can carry it
    )


def _from_samples(payload: bytes | str) -> ColumnBatch:
    """Schema 1.0: validated by the model, as before, then turned into columns."""
    try:
        batch = MetricBatch.model_validate_json(payload)
    except ValueError as exc:
        raise EventDecodeError(f"invalid {TYPE}: {exc}") from exc
    return from_batch(batch)


def from_batch(batch: MetricBatch) -> ColumnBatch:
    samples = batch.samples
    labels = [s.labels for s in samples]
    return ColumnBatch(
        str(batch.event_id),
        batch.correlation_id,
        batch.occurred_at,
        [s.resource_id for s in samples],
        [s.metric for s in samples],
        [s.value for s in samples],
        [timestamp_us(s.timestamp) for s in samples],
        labels if any(labels) else None,
        batch.sent_by,
    )


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def resources_apart(payload: bytes, ahead: Sequence[bytes]) -> bool:
    """Whether no resource of the batch ``payload`` (schema 1.1) is named in any of the
    payloads ``ahead``: handling it before them then changes the order of no series' samples.
    Looks for each resource id written as a JSON string in their bytes, so it errs one way
    only: an id that JSON would write with escapes, a payload that is not a batch of columns,
    or a name that merely matches elsewhere in a payload answer False."""
    try:
        columns = _RESOURCES.decode(payload).columns
    except msgspec.DecodeError:
        return False
    if columns is None:
        return False
    needles = []
    for resource_id in set(columns.resource_id):
        if not (resource_id.isascii() and resource_id.isprintable()) or any(
            c in resource_id for c in '"\\'
        ):
            return False
        needles.append(b'"' + resource_id.encode() + b'"')
    return not any(needle in other for other in ahead for needle in needles)
