"""A finite value too large to score (beyond 1e100 in magnitude: it would overflow the
detector's running statistics) is refused where it comes in, naming the field, instead of
being accepted and never scored: ``memory_utilization = 1e101`` paged nothing where ``98``
pages over the hard limit, and the detector's API answered 200 with no result for it. The
samples of a refused request are not taken either, and those accepted before are kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import redis

from shared.settings import BaseServiceSettings
from shared.streams import all_metric_streams
from tests.support.processes import StackProcess, api_key, service, stack_env

TOO_LARGE = 1e101
SHARDS = BaseServiceSettings.model_fields["metric_shards"].default  # the stack's


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("too-large-logs")
    processes: list[StackProcess] = [
        service(name, stack_env(module_redis), logs) for name in ("detector", "gateway")
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready()
        yield {p.name: str(p.url) for p in processes}
    finally:
        for process in processes:
            process.stop()


@pytest.mark.parametrize("value", [TOO_LARGE, -TOO_LARGE, 1.7e308])
def test_the_detector_refuses_a_value_it_cannot_score(stack: dict[str, str], value: float) -> None:
    one = {"resource_id": "large-1", "metric": "memory_utilization", "value": value}
    reply = httpx.post(f"{stack['detector']}/anomaly", json=one, timeout=20)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    (error,) = reply.json()["errors"]
    assert error["field"] == "value" and "1e+100" in error["reason"]
    points = {**one, "value": None, "points": [{"timestamp": 1.8e9, "value": value}]}
    del points["value"]
    reply = httpx.post(f"{stack['detector']}/anomaly", json=points, timeout=20)
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"][0]["field"] == "points[0].value"


def test_the_gateway_refuses_a_batch_with_a_value_too_large_and_keeps_what_it_had(
    stack: dict[str, str], module_redis: str, sync_redis: redis.Redis
) -> None:
    key = api_key(module_redis, "ingest", "too-large")
    now = datetime.now(UTC).isoformat()

    def sample(resource: str, value: float) -> dict[str, object]:
        return {
            "resource_id": resource,
            "metric": "memory_utilization",
            "value": value,
            "timestamp": now,
        }

    def post(samples: list[dict[str, object]]) -> httpx.Response:
        return httpx.post(
            f"{stack['gateway']}/v1/metrics",
            json={"samples": samples},
            headers={"X-API-Key": key},
            timeout=20,
        )

    def on_streams() -> int:
        return sum(sync_redis.xlen(stream) for stream in all_metric_streams(SHARDS))

    assert post([sample("kept-mem", 41.0)]).status_code == 202
    before = on_streams()
    reply = post([sample("plain-mem", 98.0), sample("large-mem", TOO_LARGE)])
    assert reply.status_code == 422, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "samples[1].value" and "magnitude" in error["reason"]
    assert on_streams() == before  # nothing of the refused request taken, nothing lost
