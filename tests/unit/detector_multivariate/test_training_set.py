"""What a training set says it was built from, read by people in ``GET /anomaly/models``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.detector.training import build_training_set

NAMES = ["cpu_utilization", "memory_utilization"]
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The detector's host keeps local time nine hours ahead of UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo")
def test_the_range_trained_on_is_utc_whatever_the_hosts_time_zone() -> None:
    """``from`` and ``to`` were the host's local time without a zone: on a host nine hours
    ahead of UTC, a day trained up to 09:00 UTC read as up to 18:00, unlabelled, beside
    every other time of the API in UTC."""
    samples = [
        (f"web-{r}", metric, START + 60.0 * minute, 40.0 + r + minute % 7)
        for r in range(3)
        for metric in NAMES
        for minute in range(61)
    ]
    described = build_training_set(samples, NAMES, bucket_s=60.0, min_metrics=2).description
    assert described["from"] == "2026-12-07T08:00:00+00:00"
    assert described["to"] == "2026-12-07T09:00:00+00:00"
