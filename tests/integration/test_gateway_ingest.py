"""``POST /v1/metrics`` on a real gateway: what is accepted, and what is refused without
writing anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.streams import all_metric_streams
from tests.support.metric_stream import stream_samples
from tests.support.processes import StackProcess, api_key, service, stack_env

SHARDS = 4
MAX_BATCH = 10


@pytest.fixture
def key(redis_url: str) -> str:
    return api_key(redis_url, "ingest")


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: they compare the streams before and after (one gateway for
    the module)."""
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    env = stack_env(
        module_redis,
        {"SCOPS_MAX_BATCH_SAMPLES": str(MAX_BATCH), "SCOPS_METRIC_SHARDS": str(SHARDS)},
    )
    logs = tmp_path_factory.mktemp("gateway-ingest-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


# Samples are refused when timed more than 7 days before the gateway's clock.
RECENT = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def sample(resource: str = "web-1", **overrides: Any) -> dict[str, Any]:
    return {
        "resource_id": resource,
        "metric": "cpu_utilization",
        "value": 41.5,
        "timestamp": RECENT,
        **overrides,
    }


def stored(client: redis.Redis) -> dict[str, list[Any]]:
    return {s: client.xrange(s) for s in all_metric_streams(SHARDS)}


def test_a_batch_is_split_by_resource_shard(
    gateway: StackProcess, sync_redis: redis.Redis, key: str
) -> None:
    samples = [sample(f"host-{i}") for i in range(8)]
    before = stored(sync_redis)
    reply = httpx.post(
        f"{gateway.url}/v1/metrics", json={"samples": samples}, headers={"X-API-Key": key}
    )
    assert reply.status_code == 202
    body = reply.json()
    assert body["accepted"] == 8
    assert reply.headers["x-correlation-id"] == body["correlation_id"]
    entries = [e for name, rows in stored(sync_redis).items() for e in rows[len(before[name]) :]]
    assert len(entries) == len(body["entries"]) > 1
    assert sorted(s["resource_id"] for e in entries for s in stream_samples(e[1])) == sorted(
        f"host-{i}" for i in range(8)
    )


def _samples_ingested(gateway: StackProcess) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    found = re.search(r"^scops_samples_ingested_total (\S+)$", text, re.MULTILINE)
    assert found, "scops_samples_ingested_total not exported"
    return float(found.group(1))


def test_the_ingest_counter_counts_accepted_samples_not_requests(
    gateway: StackProcess, key: str
) -> None:
    auth = {"X-API-Key": key}
    before = _samples_ingested(gateway)
    for size in (3, 5):
        samples = [sample(f"host-{i}") for i in range(size)]
        reply = httpx.post(f"{gateway.url}/v1/metrics", json={"samples": samples}, headers=auth)
        assert reply.status_code == 202
    one_bad = {"samples": [sample(), sample(value="high")]}
    assert httpx.post(f"{gateway.url}/v1/metrics", json=one_bad, headers=auth).status_code == 422
    assert _samples_ingested(gateway) - before == 8


def test_the_callers_correlation_id_is_kept(gateway: StackProcess, key: str) -> None:
    reply = httpx.post(
        f"{gateway.url}/v1/metrics",
        json={"samples": [sample()]},
        headers={"X-Correlation-ID": "incident-4711", "X-API-Key": key},
    )
    assert reply.json()["correlation_id"] == "incident-4711"


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "missing field",
        {"json": {"samples": [sample(), {k: v for k, v in sample().items() if k != "value"}]}},
        422,
        "samples[1].value",
    ),
    ("wrong type", {"json": {"samples": [sample(value="high")]}}, 422, "samples[0].value"),
    (
        "NaN",
        {
            "content": b'{"samples": [{"resource_id": "web-1", "metric": "cpu", "value": NaN,'
            b' "timestamp": 1764180000}]}',
            "headers": {"content-type": "application/json"},
        },
        422,
        "samples[0].value",
    ),
    (
        "bad timestamp",
        {"json": {"samples": [sample(timestamp="yesterday")]}},
        422,
        "samples[0].timestamp",
    ),
    ("unknown field", {"json": {"samples": [sample(colour="red")]}}, 422, "samples[0].colour"),
    ("empty batch", {"json": {"samples": []}}, 422, "samples"),
    (
        "batch over the limit",
        {"json": {"samples": [sample(f"h-{i}") for i in range(MAX_BATCH + 1)]}},
        413,
        "samples",
    ),
    (
        "not JSON",
        {"content": b'{"samples": [', "headers": {"content-type": "application/json"}},
        400,
        "body",
    ),
]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "field"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_is_refused_with_a_problem_naming_the_field_and_writes_nothing(
    gateway: StackProcess,
    sync_redis: redis.Redis,
    request_kwargs: dict[str, Any],
    status: int,
    field: str,
    key: str,
) -> None:
    auth = {"X-API-Key": key}
    accepted = httpx.post(
        f"{gateway.url}/v1/metrics", json={"samples": [sample("db-1")]}, headers=auth
    )
    assert accepted.status_code == 202
    before = stored(sync_redis)

    headers = {**request_kwargs.pop("headers", {}), **auth}
    reply = httpx.post(f"{gateway.url}/v1/metrics", headers=headers, **request_kwargs)

    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == status
    assert field in problem["detail"]
    if status == 422:
        assert field in [e["field"] for e in problem["errors"]]
    assert stored(sync_redis) == before  # nothing written, earlier data untouched
