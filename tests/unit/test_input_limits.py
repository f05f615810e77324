"""What an entry point accepts: visible names, real numbers, times in one unit and near the
receiving clock; and a detector that never lets one sample from the far future silence a
series."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.detector.detection_engine import DetectionEngine
from services.gateway.ingest import IncomingSample, timestamps_out_of_bounds
from shared.events import AnomalyEvent, MetricBatch, Severity, decode_event
from shared.identifiers import Labels, LabelValue, MetricName, Number, ResourceId, Timestamp
from shared.time_bounds import TimeBounds

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Probe(BaseModel):
    resource_id: ResourceId = "web-1"
    metric: MetricName = "cpu"
    value: Number = 1.0
    timestamp: Timestamp = NOW
    labels: Labels = {}
    label: LabelValue = ""


def _refused(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Probe(**fields)
    return str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "web\u200b-1",  # zero-width space
        "web-1\u202egpj.exe",  # right-to-left override
        "web\u2066-1",  # bidirectional isolate
        "web\ufeff1",  # byte order mark
        "web\n1",
        "web\x00",
        "web\u2028-1",  # line separator
        "web 1",
        "web\u00a01",  # no-break space
    ],
)
def test_names_with_invisible_or_reordering_characters_are_refused(name: str) -> None:
    assert "resource_id" in _refused(resource_id=name)
    assert "labels" in _refused(labels={"service": name.replace(" ", "\x7f")})


def test_ordinary_names_labels_and_non_ascii_letters_are_accepted() -> None:
    probe = Probe(
        resource_id="i-0abc/zone:eu-west-1a.pod_ä",
        labels={"app.kubernetes.io/name": "nginx ingress", "team": "Zürich ops"},
    )
    assert probe.labels["team"] == "Zürich ops"


def test_lengths_and_label_counts_are_bounded() -> None:
    assert "resource_id" in _refused(resource_id="r" * 257)
    assert "metric" in _refused(metric="m" * 129)
    assert "label" in _refused(label="v" * 1025)
    assert "labels" in _refused(labels={f"k{i}": "v" for i in range(33)})
    assert "labels" in _refused(labels={"bad key": "v"})
    assert "labels" in _refused(labels={"9starts_with_digit": "v"})
    Probe(resource_id="r" * 256, label="v" * 1024, labels={f"k{i}": "v" for i in range(32)})


@pytest.mark.parametrize("value", [True, False, "1.5", None])
def test_booleans_and_strings_are_not_numbers(value: Any) -> None:
    assert "value" in _refused(value=value)


def test_numbers_are_seconds_since_the_epoch_never_milliseconds() -> None:
    assert Probe(timestamp=1_764_180_000).timestamp == datetime(2025, 11, 26, 18, 0, tzinfo=UTC)
    assert Probe(timestamp=1764180000.5).timestamp.microsecond == 500_000
    assert "JSON number, not text" in _refused(timestamp="1764180000.5")  # as documented
    # pydantic alone reads 1e11 as milliseconds (1973); here it is the year 5138
    assert Probe(timestamp=1e11).timestamp.year == 5138
    assert "milliseconds" in _refused(timestamp=1.7e15)
    assert "timestamp" in _refused(timestamp=True)
    assert Probe(timestamp="2026-12-05T12:00:00").timestamp == NOW  # no zone: UTC


@pytest.mark.parametrize(
    ("at", "refused"),
    [
        (NOW + timedelta(seconds=300), False),
        (NOW + timedelta(seconds=301), True),
        (NOW - timedelta(days=7), False),
        (NOW - timedelta(days=7, seconds=1), True),
        (datetime(9999, 12, 31, tzinfo=UTC), True),
        (datetime(1, 1, 1, tzinfo=UTC), True),
        (datetime(1970, 1, 1, tzinfo=UTC), True),
    ],
)
def test_times_are_bounded_against_the_receiving_clock(at: datetime, refused: bool) -> None:
    assert (TimeBounds().refusal(at, NOW) is not None) == refused


def test_a_millisecond_timestamp_is_refused_as_the_far_future_saying_seconds_are_expected() -> None:
    samples = [
        IncomingSample(resource_id="web-1", metric="cpu", value=1.0, timestamp=t)
        for t in (NOW.timestamp(), 1e11)
    ]
    [(index, why)] = timestamps_out_of_bounds(samples, TimeBounds(), NOW)
    assert index == 1
    assert "ahead" in why and "seconds since the epoch" in why
    # today's time in milliseconds names no date at all
    with pytest.raises(ValidationError, match="milliseconds"):
        IncomingSample(resource_id="w", metric="m", value=1.0, timestamp=NOW.timestamp() * 1000)


def _disk(at: datetime, value: float) -> dict[str, Any]:
    return {
        "resource_id": "db-1",
        "metric": "disk_used_percent",
        "value": value,
        "timestamp": at.isoformat(),
    }


def test_a_far_future_sample_on_the_stream_does_not_silence_a_disk_at_99_percent() -> None:
    engine = DetectionEngine.with_warmup(3, clock=NOW.timestamp)
    history = [_disk(NOW - timedelta(minutes=30 - i), 60.0) for i in range(20)]
    poisoned = [*history, _disk(datetime(9999, 12, 31, tzinfo=UTC), 60.0)]
    # Written straight onto the stream (not through the gateway): the event model reads it.
    batch = decode_event(MetricBatch.TYPE, json.dumps({"samples": poisoned, "correlation_id": "c"}))
    assert isinstance(batch, MetricBatch)
    assert engine.process_batch(batch) == []
    assert engine.dropped_from_the_future == 1
    full = MetricBatch.model_validate({"samples": [_disk(NOW, 99.0)], "correlation_id": "c"})
    [event] = engine.process_batch(full)
    assert isinstance(event, AnomalyEvent)
    assert event.severity == Severity.CRITICAL
    assert "hard_limit" in event.detectors


def test_the_detector_accepts_what_the_gateway_accepts_ahead_of_its_clock() -> None:
    engine = DetectionEngine.with_warmup(3, clock=NOW.timestamp, max_future_s=300)
    batch = MetricBatch.model_validate(
        {"samples": [_disk(NOW + timedelta(seconds=299), 99.0)], "correlation_id": "c"}
    )
    assert len(engine.process_batch(batch)) == 1
    assert engine.dropped_from_the_future == 0


def test_the_remediators_evaluation_refuses_what_the_gateway_refuses() -> None:
    from services.remediator.api.routes_remediation import AnomalyInput

    good = {"resource_id": "web-1", "metric": "cpu_utilization", "severity": "critical"}
    assert AnomalyInput.model_validate(good).to_event("c").resource_id == "web-1"
    for bad in (
        {"resource_id": "web-1\u202e"},
        {"metric": "cpu\u200b"},
        {"value": True},
        {"labels": {"service": "x\x00"}},
        {"observed_at": 1e16},
    ):
        with pytest.raises(ValidationError):
            AnomalyInput.model_validate({**good, **bad})


def test_a_manual_request_names_its_incident_as_every_entry_point_does() -> None:
    """``resource_id`` of ``POST /remediation/execute`` is shown to approvers and recorded: a
    bidi override or a line break there would make a request read as being on another
    resource; the free text (who asks, why) keeps its words, without hidden characters."""
    from services.remediator.handling.manual import ManualRequest

    body = {
        "action": "restart_service",
        "target": {"instance_ids": ["i-0abc123def4567890"]},
        "params": {"service": "nginx"},
        "reason": "users\u2028report\u202e timeouts",
        "by": "ana\u200b",
    }
    accepted = ManualRequest.model_validate({**body, "resource_id": "web-1"})
    assert accepted.reason == "users report  timeouts"
    assert accepted.by == "ana "
    for bad in ("web-1\u202e\n<!channel>", "web 1", "x" * 257, ""):
        with pytest.raises(ValidationError) as caught:
            ManualRequest.model_validate({**body, "resource_id": bad})
        assert "resource_id" in str(caught.value)
