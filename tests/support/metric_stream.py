"""Reading the metrics stream back in tests, whichever schema an entry was written in."""

from __future__ import annotations

from typing import Any

from shared.events import MetricBatch, decode_event


def stream_samples(fields: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """The samples of one metrics stream entry as JSON objects (times as ISO 8601)."""
    batch = decode_event(fields[b"type"].decode(), fields[b"data"])
    assert isinstance(batch, MetricBatch)
    samples: list[dict[str, Any]] = batch.model_dump(mode="json")["samples"]
    return samples
