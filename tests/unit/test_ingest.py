from __future__ import annotations

from datetime import UTC, datetime

from services.gateway.ingest import split_by_shard
from shared.events import MetricSample
from shared.streams import metrics_stream, shard_of


def _sample(resource: str, value: float) -> MetricSample:
    return MetricSample(
        resource_id=resource, metric="cpu", value=value, timestamp=datetime.now(UTC)
    )


def test_every_sample_lands_once_in_its_resources_shard_in_order() -> None:
    samples = [_sample(f"host-{i % 7}", float(i)) for i in range(50)]
    entries = split_by_shard(samples, 4, "corr-1")
    assert sum(len(batch.samples) for _, batch in entries) == 50
    for stream, batch in entries:
        assert batch.correlation_id == "corr-1"
        for sample in batch.samples:
            assert stream == metrics_stream(shard_of(sample.resource_id, 4))
        per_resource: dict[str, list[float]] = {}
        for sample in batch.samples:
            per_resource.setdefault(sample.resource_id, []).append(sample.value)
        assert all(values == sorted(values) for values in per_resource.values())


def test_shards_are_stable_and_use_cluster_hash_tags() -> None:
    assert shard_of("web-1", 16) == shard_of("web-1", 16)
    assert len({shard_of(f"host-{i}", 16) for i in range(200)}) == 16
    assert metrics_stream(3) == "scops:{metrics:3}"
