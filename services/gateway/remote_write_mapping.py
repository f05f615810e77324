"""From Prometheus series to the product's samples (no I/O): which series, which resource,
which name, gauges as they are and counters as per-second rates.

- **Selection**: a series is kept when its name fully matches ``include_metrics`` (if set) and
  not ``exclude_metrics``, every label of ``include_labels`` fully matches its regex (a missing
  label reads as ""), and no label of ``exclude_labels`` does.
- **Resource**: the first of ``resource_labels`` the series carries (``shared.resource_labels``).
- **Name**: ``__name__``, followed by ``:<value>`` of every label of ``name_labels`` the series
  carries (default ``quantile``, so a summary's quantiles stay apart); counters get ``:rate``.
- **Labels**: only those of ``keep_labels`` travel with the sample.
- **Kinds**: a series is a counter when the metadata Prometheus sent says so (``COUNTER``, or
  ``_sum``/``_count`` of a ``HISTOGRAM``/``SUMMARY`` family), else when its name ends with one
  of ``counter_suffixes`` (default ``_total``, ``_sum``, ``_count``), unless the metadata says
  ``GAUGE``. Classic histogram buckets (``_bucket`` with ``le``) and native histograms are
  skipped: their ``_sum``/``_count`` rates and a summary's quantiles carry the signal.
- **Dropped, never refused**: stale markers, NaN and infinities, times outside the accepted
  window, series naming no resource or with names and labels the product refuses; each is
  counted by reason (Prometheus does not retry a 4xx, so one bad series must not cost the rest).

Counter rates: each point is compared with the previous point of the same series (kept between
requests by the caller): ``(value - previous) / seconds between them``, or ``value / seconds``
after a reset (the value went down), as Prometheus' ``rate()`` reads resets. The first point of
a series only primes it.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from services.gateway.remote_write_decode import DecodedWrite, Series
from services.gateway.remote_write_proto import MetricType
from shared.events import MetricSample
from shared.identifiers import METRIC_MAX, RESOURCE_ID_MAX, Labels, hidden_character, measurable
from shared.resource_labels import DEFAULT_RESOURCE_LABELS, resource_id_from_labels
from shared.time_bounds import TimeBounds

STALE_NAN_BITS = 0x7FF0000000000002
RATE_SUFFIX = ":rate"
_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")
_NAME_PART = re.compile(r"[^A-Za-z0-9_.\-]")
_LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)


class Dropped(StrEnum):
    STALE = "stale_marker"
    NON_FINITE = "non_finite"
    OUT_OF_WINDOW = "out_of_time_window"
    NOT_SELECTED = "not_selected"
    NO_RESOURCE = "no_resource_label"
    INVALID = "invalid_name_or_labels"
    BUCKET = "histogram_bucket"
    NATIVE_HISTOGRAM = "native_histogram"
    FIRST_POINT = "counter_first_point"
    OUT_OF_ORDER = "counter_out_of_order"


@dataclass(frozen=True)
class SeriesMapping:
    resource_labels: tuple[str, ...] = DEFAULT_RESOURCE_LABELS
    keep_labels: frozenset[str] = frozenset({"job", "instance", "namespace", "pod", "container"})
    name_labels: tuple[str, ...] = ("quantile",)
    include_metrics: re.Pattern[str] | None = None
    exclude_metrics: re.Pattern[str] | None = None
    include_labels: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    exclude_labels: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    counter_suffixes: tuple[str, ...] = ("_total", "_sum", "_count")

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.include_metrics is not None and not self.include_metrics.fullmatch(name):
            return False
        if self.exclude_metrics is not None and self.exclude_metrics.fullmatch(name):
            return False
        if any(not rx.fullmatch(labels.get(k, "")) for k, rx in self.include_labels.items()):
            return False
        return not any(
            k in labels and rx.fullmatch(labels[k]) for k, rx in self.exclude_labels.items()
        )


@dataclass(frozen=True, slots=True)
class CounterPoint:
    at_ms: int
    value: float


@dataclass
class CounterSeries:
    """One counter series of a request: where its rates go, and its points in time order."""

    resource_id: str
    metric: str
    labels: dict[str, str]
    points: list[CounterPoint] = field(default_factory=list)


@dataclass
class Mapped:
    gauges: list[MetricSample] = field(default_factory=list)
    counters: dict[str, CounterSeries] = field(default_factory=dict)  # series key -> series
    dropped: Counter[str] = field(default_factory=Counter)


def is_stale_marker(value: float) -> bool:
    """Prometheus' staleness marker: one particular NaN (a series ended)."""
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


def series_key(labels: Mapping[str, str]) -> str:
    """A short stable id of a Prometheus series (all its labels)."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _family_type(name: str, metadata: Mapping[str, MetricType]) -> tuple[MetricType, str]:
    """(type, suffix) from the metadata for ``name`` or for its family."""
    if name in metadata:
        return metadata[name], ""
    for suffix in ("_total", "_sum", "_count", "_bucket"):
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return metadata[name[: -len(suffix)]], suffix
    return MetricType.UNKNOWN, ""


def _kind(
    name: str, labels: Mapping[str, str], mapping: SeriesMapping, meta: Mapping[str, MetricType]
) -> str:
    """ "counter", "gauge" or "bucket"."""
    kind, suffix = _family_type(name, meta)
    if name.endswith("_bucket") and "le" in labels:
        return "bucket"
    if kind is MetricType.COUNTER:
        return "counter"
    if kind in (MetricType.HISTOGRAM, MetricType.SUMMARY) and suffix in ("_sum", "_count"):
        return "counter"
    if kind is MetricType.GAUGE or kind is MetricType.GAUGEHISTOGRAM:
        return "gauge"
    return "counter" if name.endswith(mapping.counter_suffixes) else "gauge"


def _metric_name(name: str, labels: Mapping[str, str], mapping: SeriesMapping) -> str:
    parts = [name] + [_NAME_PART.sub("_", labels[k]) for k in mapping.name_labels if k in labels]
    return ":".join(parts)


def _valid(resource_id: str, metric: str, labels: dict[str, str]) -> bool:
    if len(resource_id) > RESOURCE_ID_MAX or hidden_character(resource_id, spaces=False):
        return False
    if len(metric) > METRIC_MAX or not _METRIC.fullmatch(metric):
        return False
    try:
        _LABELS.validate_python(labels)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Plan:
    """What becomes of every sample of one series (the same for all its samples)."""

    counter: bool
    resource_id: str
    metric: str
    labels: dict[str, str]
    key: str  # series_key of all its labels


PlanCache = dict[tuple[tuple[str, str], ...], "Plan | Dropped"]
PLANS_REMEMBERED = 200_000
PLAN_LABEL_BYTES = 4096  # a larger label set is planned each time it comes, not remembered


def plan(
    labels: Mapping[str, str], mapping: SeriesMapping, meta: Mapping[str, MetricType]
) -> Plan | Dropped:
    """How a series maps, or why it is dropped: label checks run once per series, not per
    sample (and once per process with a :data:`PlanCache`)."""
    name = labels.get("__name__", "")
    if not mapping.selects(name, labels):
        return Dropped.NOT_SELECTED
    kind = _kind(name, labels, mapping, meta)
    if kind == "bucket":
        return Dropped.BUCKET
    resource_id = resource_id_from_labels(labels, mapping.resource_labels)
    if resource_id is None:
        return Dropped.NO_RESOURCE
    metric = _metric_name(name, labels, mapping) + (RATE_SUFFIX if kind == "counter" else "")
    kept = {k: v for k, v in labels.items() if k in mapping.keep_labels}
    if not _valid(resource_id, metric, kept):
        return Dropped.INVALID
    return Plan(kind == "counter", resource_id, metric, kept, series_key(labels))


def map_write(
    write: DecodedWrite,
    mapping: SeriesMapping,
    bounds: TimeBounds,
    now: datetime,
    known_metadata: Mapping[str, MetricType] | None = None,
    plans: PlanCache | None = None,
) -> Mapped:
    """Gauge samples ready for the stream, and counter points waiting for their rates.
    ``plans``: series already planned with the same mapping and metadata (the caller clears
    it when either changes); new plans are added to it."""
    meta = {**(known_metadata or {}), **write.metadata}
    plans = {} if plans is None or write.metadata else plans
    if len(plans) > PLANS_REMEMBERED:
        plans.clear()
    mapped = Mapped()
    for series in write.series:
        if series.histograms:
            mapped.dropped[Dropped.NATIVE_HISTOGRAM] += series.histograms
        if not series.samples:
            continue
        if series.repeated_label:
            mapped.dropped[Dropped.INVALID] += len(series.samples)
            continue
        identity = tuple(series.labels.items())
        found = plans.get(identity)
        if found is None:
            found = plan(series.labels, mapping, meta)
            # Remembered only for a label set of ordinary size: the cache is counted in
            # entries, and megabyte label values would stay in memory with it.
            if sum(len(k) + len(v) for k, v in identity) <= PLAN_LABEL_BYTES:
                plans[identity] = found
        if isinstance(found, Dropped):
            mapped.dropped[found] += len(series.samples)
        else:
            _map_samples(series, found, bounds, now, mapped)
    for counter in mapped.counters.values():
        counter.points.sort(key=lambda p: p.at_ms)
    return mapped


def _map_samples(
    series: Series, plan: Plan, bounds: TimeBounds, now: datetime, mapped: Mapped
) -> None:
    counter: CounterSeries | None = None
    if plan.counter:
        counter = mapped.counters.get(plan.key)
        if counter is None:
            counter = mapped.counters[plan.key] = CounterSeries(
                plan.resource_id, plan.metric, plan.labels
            )
    for at_ms, value in series.samples:
        if math.isnan(value) and is_stale_marker(value):
            mapped.dropped[Dropped.STALE] += 1
            continue
        if not measurable(value):  # infinite, or too large to score
            mapped.dropped[Dropped.NON_FINITE] += 1
            continue
        at = _time(at_ms)
        if at is None or bounds.refusal(at, now) is not None:
            mapped.dropped[Dropped.OUT_OF_WINDOW] += 1
            continue
        if counter is not None:
            counter.points.append(CounterPoint(at_ms, value))
        else:
            mapped.gauges.append(_sample(plan.resource_id, plan.metric, value, at, plan.labels))


def _time(at_ms: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(at_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _sample(
    resource_id: str, metric: str, value: float, at: datetime, labels: dict[str, str]
) -> MetricSample:
    # Every constraint of MetricSample was checked above (_valid, finite, bounds).
    return MetricSample.model_construct(
        resource_id=resource_id, metric=metric, value=value, timestamp=at, labels=dict(labels)
    )


def counter_rates(
    counters: Mapping[str, CounterSeries],
    previous: Mapping[str, CounterPoint],
) -> tuple[list[MetricSample], dict[str, CounterPoint], Counter[str]]:
    """Per-second rates of every counter series from its consecutive points (``previous``:
    the last point seen of each series before this request). Returns the rate samples, the new
    last point of each series that moved, and the points that gave no rate."""
    samples: list[MetricSample] = []
    latest: dict[str, CounterPoint] = {}
    dropped: Counter[str] = Counter()
    for key, series in counters.items():
        last = previous.get(key)
        for point in series.points:
            if last is None:
                dropped[Dropped.FIRST_POINT] += 1
            elif point.at_ms <= last.at_ms:
                dropped[Dropped.OUT_OF_ORDER] += 1
                continue
            else:
                rise = point.value - last.value if point.value >= last.value else point.value
                rate = rise / ((point.at_ms - last.at_ms) / 1000)
                if measurable(rate):
                    at = datetime.fromtimestamp(point.at_ms / 1000, UTC)
                    samples.append(
                        _sample(series.resource_id, series.metric, rate, at, series.labels)
                    )
                else:  # a rise too large to score (or past a float's range): no rate
                    dropped[Dropped.NON_FINITE] += 1
            last = point
            latest[key] = point
    return samples, latest, dropped


def total(counts: Iterable[Counter[str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in counts:
        out.update(c)
    return out


def mapping_from(
    resource_labels: Sequence[str],
    keep_labels: Iterable[str],
    name_labels: Sequence[str],
    include_metrics: str | None,
    exclude_metrics: str | None,
    include_labels: Mapping[str, str],
    exclude_labels: Mapping[str, str],
    counter_suffixes: Sequence[str],
) -> SeriesMapping:
    """A mapping from settings' plain values (regexes compiled here)."""
    return SeriesMapping(
        resource_labels=tuple(resource_labels),
        keep_labels=frozenset(keep_labels),
        name_labels=tuple(name_labels),
        include_metrics=re.compile(include_metrics) if include_metrics else None,
        exclude_metrics=re.compile(exclude_metrics) if exclude_metrics else None,
        include_labels={k: re.compile(v) for k, v in include_labels.items()},
        exclude_labels={k: re.compile(v) for k, v in exclude_labels.items()},
        counter_suffixes=tuple(counter_suffixes),
    )
