"""Event contracts: validation, ids, versions, and the committed JSON Schema snapshot."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.events import (
    AnomalyEvent,
    EventDecodeError,
    MetricBatch,
    MetricSample,
    decode_event,
    event_json_schemas,
)

SNAPSHOT = Path(__file__).parent / "event_schemas.json"


def test_event_schemas_match_the_committed_snapshot() -> None:
    """A contract change must show up in review: regenerate the snapshot deliberately with
    `python -c 'from tests.unit.test_events import write_snapshot; write_snapshot()'`."""
    assert event_json_schemas() == json.loads(SNAPSHOT.read_text())


def write_snapshot() -> None:
    SNAPSHOT.write_text(json.dumps(event_json_schemas(), indent=2, sort_keys=True) + "\n")


def test_sample_timestamps_accept_epoch_and_iso_and_become_utc() -> None:
    a = MetricSample(resource_id="r", metric="m", value=1, timestamp=1764180000)
    b = MetricSample(
        resource_id="r",
        metric="m",
        value=1,
        timestamp=datetime(2025, 11, 26, 19, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    c = MetricSample(resource_id="r", metric="m", value=1, timestamp=datetime(2025, 11, 26, 18, 0))
    assert a.timestamp.tzinfo == UTC
    assert b.timestamp == c.timestamp == datetime(2025, 11, 26, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", float("nan")),
        ("value", float("inf")),
        ("resource_id", ""),
        ("resource_id", "has space"),
        ("metric", "9starts-with-digit"),
    ],
)
def test_invalid_samples_are_refused(field: str, value: object) -> None:
    data = {"resource_id": "web-1", "metric": "cpu", "value": 1.0, "timestamp": 0, field: value}
    with pytest.raises(ValidationError) as info:
        MetricSample.model_validate(data)
    assert info.value.errors()[0]["loc"] == (field,)


def test_anomaly_ids_are_derived_from_the_observation() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    first = AnomalyEvent.derive_id("web-1", "cpu", at)
    assert first == AnomalyEvent.derive_id("web-1", "cpu", at)
    assert first != AnomalyEvent.derive_id("web-1", "cpu", at + timedelta(seconds=1))
    assert first != AnomalyEvent.derive_id("web-2", "cpu", at)
    assert isinstance(first, uuid.UUID)


def _batch() -> MetricBatch:
    sample = MetricSample(resource_id="r", metric="m", value=1.0, timestamp=datetime.now(UTC))
    return MetricBatch(samples=[sample])


def test_decode_round_trips_and_ignores_unknown_fields() -> None:
    batch = _batch()
    data = json.loads(batch.model_dump_json())
    data["added_in_a_minor_version"] = True
    data["schema_version"] = "1.7"
    decoded = decode_event("metrics.batch.v1", json.dumps(data))
    assert isinstance(decoded, MetricBatch)
    assert decoded.samples == batch.samples
    assert decoded.event_id == batch.event_id


def test_decode_refuses_another_major_version_and_unknown_types() -> None:
    data = json.loads(_batch().model_dump_json())
    data["schema_version"] = "2.0"
    with pytest.raises(EventDecodeError, match=r"schema_version 2\.0"):
        decode_event("metrics.batch.v1", json.dumps(data))
    with pytest.raises(EventDecodeError, match="unknown event type"):
        decode_event("metrics.batch.v9", "{}")


def test_events_are_immutable() -> None:
    batch = _batch()
    with pytest.raises(ValidationError):
        batch.correlation_id = "changed"  # type: ignore[misc]
