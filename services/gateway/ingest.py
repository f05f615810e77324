"""Turning an accepted request into metric stream entries (no I/O here).

``POST /v1/metrics`` reads its body in one pass with msgspec into columns (``read_columns``),
checking every rule of ``IncomingSample`` with plain string and number tests, and names already
seen (resource ids, metric names, label keys) from a bounded cache. Whatever that pass does not
accept, it does not judge: the request is validated again by the ``IncomingSample`` model, which
refuses it naming the field exactly as before (or accepts it, for the rare form the fast pass
leaves to the model, such as a time written ``2026-01-01 10:00``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from shared.events import MetricSample
from shared.identifiers import (
    CLOCKED_TIME,
    LABEL_KEY_MAX,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_MAX,
    LABELS_MAX,
    METRIC_MAX,
    METRIC_PATTERN,
    RESOURCE_ID_MAX,
    Labels,
    MetricName,
    ResourceId,
    SampleValue,
    Timestamp,
    dated_now,
    measurable,
)
from shared.metric_batches import encode_columns, timestamp_us
from shared.streams import metrics_stream, shard_of
from shared.time_bounds import TimeBounds

Fields = dict[str, bytes | str]


class IncomingSample(BaseModel):
    """One sample as a client sends it: stricter than the stream's ``MetricSample`` (names
    of visible characters, numbers that are numbers, times in seconds or ISO 8601)."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=dated_now("timestamp"))

    resource_id: ResourceId = Field(examples=["i-0abc123def4567890"])
    metric: MetricName
    value: SampleValue = Field(examples=[42.5])
    timestamp: Timestamp = Field(description=CLOCKED_TIME)
    labels: Labels = Field(default_factory=dict, examples=[{"service": "nginx", "env": "prod"}])


@dataclass(slots=True)
class Columns:
    """Samples column by column, in request order."""

    resource_id: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    timestamp_us: list[int] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.resource_id)

    @classmethod
    def of_models(cls, samples: Sequence[IncomingSample | MetricSample]) -> Columns:
        return cls(
            [s.resource_id for s in samples],
            [s.metric for s in samples],
            [s.value for s in samples],
            [timestamp_us(s.timestamp) for s in samples],
            [dict(s.labels) for s in samples],
        )


# -- the fast pass ------------------------------------------------------------------------------


# ``gc=False``: a sample holds strings, a float and a dict of strings, so it can never be part
# of a reference cycle; left tracked, a batch's thousand samples were walked by each collection
# that ran while they lived, and moved into the older generations that the full ones walk.
class _Sample(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    resource_id: str
    metric: str
    value: float
    timestamp: float | str
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    samples: list[_Sample]


_BODY = msgspec.json.Decoder(_Body)
_METRIC = re.compile(METRIC_PATTERN.strip("^$"))
_LABEL_KEY = re.compile(LABEL_KEY_PATTERN.strip("^$"))
# ISO 8601 as most clients write it; any other form of time is left to the model.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_LAST_EPOCH_SECOND = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_CACHE_MAX = 200_000


class _Seen:
    """Names that passed their check, so that a name sent every few seconds is checked once
    (bounded: emptied when full)."""

    def __init__(self) -> None:
        self.resources: set[str] = set()
        self.metrics: set[str] = set()
        self.label_keys: set[str] = set()

    def trim(self) -> None:
        for names in (self.resources, self.metrics, self.label_keys):
            if len(names) > _CACHE_MAX:
                names.clear()


_SEEN = _Seen()


def _resource_ok(name: str) -> bool:
    # str.isprintable is False exactly for the categories shared.identifiers refuses (Cc,
    # Cf, Cs, Co, Cn, Zl, Zp, and Zs but the plain space, which a resource id may not hold).
    return 0 < len(name) <= RESOURCE_ID_MAX and name.isprintable() and " " not in name


def _label_value_ok(text: str) -> bool:
    return len(text) <= LABEL_VALUE_MAX and text.isprintable()


def _labels_ok(labels: dict[str, str]) -> bool:
    if len(labels) > LABELS_MAX:
        return False
    keys = _SEEN.label_keys
    for key, text in labels.items():
        if key not in keys:
            if not (len(key) <= LABEL_KEY_MAX and _LABEL_KEY.fullmatch(key)):
                return False
            keys.add(key)
        if not _label_value_ok(text):
            return False
    return True


def _time_us(raw: float | str, lowest: int, highest: int) -> int | None:
    """Microseconds since the epoch of ``raw`` if it is a time the model reads the same way
    and inside [lowest, highest] (microseconds); None otherwise."""
    if isinstance(raw, str):
        if not _ISO.fullmatch(raw):
            return None
        try:
            at = datetime.fromisoformat(raw)
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
    else:
        if not (math.isfinite(raw) and abs(raw) <= _LAST_EPOCH_SECOND):
            return None
        try:
            at = datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    micros = timestamp_us(at)
    if not lowest <= micros <= highest:
        return None
    return micros


def read_columns(raw: bytes, bounds: TimeBounds, now: datetime) -> Columns | None:
    """The request's samples if every one is valid and timed inside ``bounds``; None when
    the model must decide (an invalid request, or a form this pass does not read).

    Column at a time: each check runs over a whole column, and names over the distinct ones
    not seen before, which in a steady stream is none."""
    try:
        samples = _BODY.decode(raw).samples
    except msgspec.DecodeError:
        return None
    if not samples:
        return None
    _SEEN.trim()
    names = [s.resource_id for s in samples]
    fresh = set(names).difference(_SEEN.resources)
    if fresh:
        if not all(map(_resource_ok, fresh)):
            return None
        _SEEN.resources.update(fresh)
    metrics = [s.metric for s in samples]
    fresh = set(metrics).difference(_SEEN.metrics)
    if fresh:
        if not all(len(m) <= METRIC_MAX and _METRIC.fullmatch(m) for m in fresh):
            return None
        _SEEN.metrics.update(fresh)
    values = [s.value for s in samples]
    if not all(map(measurable, values)):
        return None
    clock = timestamp_us(now)
    lowest = clock - math.ceil(bounds.max_past_s * 1e6)
    highest = clock + math.floor(bounds.max_future_s * 1e6)
    raw_times = [s.timestamp for s in samples]
    times = {t: _time_us(t, lowest, highest) for t in set(raw_times)}
    if None in times.values():
        return None
    labels = [s.labels for s in samples]
    if any(labels) and not all(_labels_ok(lab) for lab in labels if lab):
        return None
    micros: list[int] = [times[t] for t in raw_times]  # type: ignore[misc]
    return Columns(names, metrics, values, micros, labels)


# -- the model's pass ---------------------------------------------------------------------------


def timestamps_out_of_bounds(
    samples: Sequence[IncomingSample], bounds: TimeBounds, now: datetime
) -> list[tuple[int, str]]:
    """(index, why) of every sample timed outside the accepted window around ``now``."""
    found = []
    for index, sample in enumerate(samples):
        why = bounds.refusal(sample.timestamp, now)
        if why is not None:
            found.append((index, why))
    return found


# -- onto the stream ----------------------------------------------------------------------------


_SHARD_OF: dict[int, dict[str, int]] = {}  # shard count -> resource id -> its shard


def _shards_of(names: list[str], shards: int) -> list[int]:
    known = _SHARD_OF.setdefault(shards, {})
    fresh = set(names).difference(known)
    if fresh:
        if len(known) > _CACHE_MAX:
            known.clear()
            fresh = set(names)
        known.update((name, shard_of(name, shards)) for name in fresh)
    return [known[name] for name in names]


def _pick(column: list[Any], rows: list[int]) -> list[Any]:
    return [column[rows[0]]] if len(rows) == 1 else list(itemgetter(*rows)(column))


def columns_by_shard(
    columns: Columns, shards: int, correlation_id: str, sent_by: str | None = None
) -> list[tuple[str, Fields]]:
    """One stream entry per shard touched, samples kept in request order within each;
    ``sent_by``: the person whose key sent them (their anomalies say so)."""
    keys = _shards_of(columns.resource_id, shards) if shards > 1 else [0] * len(columns)
    rows_of: dict[int, list[int]] = defaultdict(list)  # one pass, not one per shard
    for row, key in enumerate(keys):
        rows_of[key].append(row)
    touched = sorted(rows_of)
    entries: list[tuple[str, Fields]] = []
    for shard in touched:
        if len(touched) == 1:
            part = columns
        else:
            rows = rows_of[shard]
            part = Columns(
                _pick(columns.resource_id, rows),
                _pick(columns.metric, rows),
                _pick(columns.value, rows),
                _pick(columns.timestamp_us, rows),
                _pick(columns.labels, rows),
            )
        fields = encode_columns(
            part.resource_id,
            part.metric,
            part.value,
            part.timestamp_us,
            part.labels,
            correlation_id,
            sent_by,
        )
        entries.append((metrics_stream(shard), fields))
    return entries


def split_by_shard(
    samples: Sequence[MetricSample], shards: int, correlation_id: str, sent_by: str | None = None
) -> list[tuple[str, Fields]]:
    """``columns_by_shard`` for samples already validated as models (remote write)."""
    return columns_by_shard(Columns.of_models(samples), shards, correlation_id, sent_by)
