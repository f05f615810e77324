"""Turning an accepted request into metric stream entries (no I/O here)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from shared.events import MetricBatch, MetricSample
from shared.streams import metrics_stream, shard_of


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
