"""Turning an accepted request into metric stream entries (no I/O here)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events import MetricBatch, MetricSample
from shared.identifiers import Labels, MetricName, Number, ResourceId, Timestamp, dated_now
from shared.streams import metrics_stream, shard_of
from shared.time_bounds import TimeBounds


class IncomingSample(BaseModel):
    """One sample as a client sends it: stricter than the stream's ``MetricSample`` (names
    of visible characters, numbers that are numbers, times in seconds or ISO 8601)."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=dated_now("timestamp"))

    resource_id: ResourceId = Field(examples=["i-0abc123def4567890"])
    metric: MetricName
    value: Number = Field(examples=[42.5])
    timestamp: Timestamp
    labels: Labels = Field(default_factory=dict, examples=[{"service": "nginx", "env": "prod"}])

    def to_event(self) -> MetricSample:
        # Every constraint of MetricSample is implied by the ones above: no second validation.
        return MetricSample.model_construct(
            resource_id=self.resource_id,
            metric=self.metric,
            value=self.value,
            timestamp=self.timestamp,
            labels=dict(self.labels),
        )


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


def split_by_shard(
    samples: Sequence[MetricSample], shards: int, correlation_id: str
) -> list[tuple[str, MetricBatch]]:
    """One batch event per shard touched, samples kept in request order within each."""
    groups: defaultdict[int, list[MetricSample]] = defaultdict(list)
    for sample in samples:
        groups[shard_of(sample.resource_id, shards)].append(sample)
    return [
        (metrics_stream(shard), MetricBatch(samples=group, correlation_id=correlation_id))
        for shard, group in sorted(groups.items())
    ]
