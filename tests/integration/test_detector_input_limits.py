"""A real detector: scoring requests timed far from its clock or with invalid values are
refused naming the field, and a sample from the far future written straight onto a metric
stream is dropped (counted), so a disk at 99 % still raises."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.streams import ANOMALIES, metrics_stream, shard_of
from tests.support.processes import StackProcess, service, stack_env

SHARDS = 2


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one detector serves the module; each test reads what it
    added."""
    return module_redis


@pytest.fixture(scope="module")
def detector(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    env = stack_env(module_redis, {"SCOPS_METRIC_SHARDS": str(SHARDS), "SCOPS_WARMUP_SAMPLES": "3"})
    log_dir = tmp_path_factory.mktemp("input-limits-logs")
    process = service("detector", env, log_dir).start().wait_ready()
    yield process
    process.stop()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _fields(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in reply.json()["errors"]]


def test_scoring_requests_with_far_times_or_non_numbers_are_refused_naming_the_field(
    detector: StackProcess,
) -> None:
    url = f"{detector.url}/anomaly"
    one = {"resource_id": "web-1", "metric": "cpu_utilization", "value": 50.0}
    for timestamp in ("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", 0, 1e11):
        assert _fields(httpx.post(url, json={**one, "timestamp": timestamp})) == ["timestamp"]
    assert _fields(httpx.post(url, json={**one, "value": True})) == ["value"]
    assert _fields(httpx.post(url, json={**one, "resource_id": "web-1\u202e"})) == ["resource_id"]
    recent = [{"timestamp": (now() - timedelta(minutes=m)).isoformat(), "value": 1} for m in (2, 1)]
    future = [{"timestamp": "9999-12-31T00:00:00Z", "value": 1.0}]
    batch = {
        "requests": [
            {**_no_value(one), "points": recent},
            {**_no_value(one), "points": [*recent, *future]},
        ]
    }
    fields = _fields(httpx.post(f"{url}/batch", json=batch))
    assert fields == ["requests[1].points[2].timestamp"]
    answer = httpx.post(url, json={**_no_value(one), "points": recent})
    assert answer.status_code == 200, answer.text


def _no_value(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != "value"}


def _entry(samples: list[dict[str, Any]]) -> dict[str, str]:
    """A stream entry as any writer could add it, bypassing the gateway."""
    data = {"type": "metrics.batch.v1", "samples": samples, "correlation_id": "direct"}
    return {"type": "metrics.batch.v1", "v": "1.0", "data": json.dumps(data)}


def _dropped(detector: StackProcess) -> float:
    text = httpx.get(f"{detector.url}/metrics").text
    found = re.search(r"^ml_samples_from_the_future_dropped_total (\S+)$", text, re.MULTILINE)
    assert found, "ml_samples_from_the_future_dropped_total not exported"
    return float(found.group(1))


def test_a_far_future_sample_on_the_stream_does_not_silence_a_full_disk(
    detector: StackProcess, sync_redis: redis.Redis
) -> None:
    def disk(at: datetime, value: float) -> dict[str, Any]:
        return {
            "resource_id": "db-1",
            "metric": "disk_used_percent",
            "value": value,
            "timestamp": at.isoformat(),
        }

    stream = metrics_stream(shard_of("db-1", SHARDS))
    seen, dropped = sync_redis.xlen(ANOMALIES), _dropped(detector)
    steady = [disk(now() - timedelta(minutes=20 - i), 60.0) for i in range(10)]
    sync_redis.xadd(stream, _entry([*steady, disk(datetime(9999, 12, 31, tzinfo=UTC), 60.0)]))
    sync_redis.xadd(stream, _entry([disk(now(), 99.0)]))
    deadline = time.monotonic() + 20
    while sync_redis.xlen(ANOMALIES) == seen:
        assert time.monotonic() < deadline, "the full disk raised nothing"
        time.sleep(0.05)
    [(_, fields)] = sync_redis.xrange(ANOMALIES)[seen:]
    event = json.loads(fields[b"data"])
    assert (event["metric"], event["severity"], event["value"]) == (
        "disk_used_percent",
        "critical",
        99.0,
    )
    assert _dropped(detector) == dropped + 1
