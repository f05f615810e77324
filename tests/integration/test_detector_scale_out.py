"""Two real detector processes splitting the metric shards behind one gateway: every call about
a series reaches the process that owns it, whichever shard the series is in."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from scops.local_redis import free_port
from scops.processes import detector_shards
from shared.streams import ANOMALIES, shard_of
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.waiting import wait_for

SHARDS = 4
TOKEN = "scale-out-internal-token"
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)


def one_per_shard(prefix: str) -> dict[int, str]:
    """shard -> a resource of this name prefix in it: one in every shard, so that both processes
    own some of them. Each test has its own prefix, as the stack serves the whole module."""
    found = {shard_of(f"{prefix}-{i}", SHARDS): f"{prefix}-{i}" for i in range(200)}
    assert sorted(found) == list(range(SHARDS))
    return found


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one stack serves the module; each test sends its own
    resources and reads what it added."""
    return module_redis


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    log_dir = tmp_path_factory.mktemp("scale-out-logs")
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    env = stack_env(
        module_redis,
        {
            "SCOPS_METRIC_SHARDS": str(SHARDS),
            "SCOPS_DETECTOR_URLS": json.dumps(urls),
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_MULTIVARIATE_METRICS": '["cpu_utilization", "memory_utilization"]',
        },
    )
    started: list[StackProcess] = []
    try:
        for index, url in enumerate(urls):
            own = {
                **env,
                "SCOPS_DETECTOR_PORT": url.rsplit(":", 1)[1],
                "SCOPS_DETECTOR_SHARDS": ",".join(map(str, detector_shards(index, 2, SHARDS))),
            }
            process = StackProcess(
                f"detector-{index}", ["serve", "detector"], own, log_dir / f"d{index}.log", url
            )
            started.append(process.start())
        started.append(service("gateway", env, log_dir).start())
        for process in started:
            process.wait_ready(timeout=120)
        yield {
            "gateway": started[-1],
            "detectors": started[:-1],
            "ingest": api_key(module_redis, "ingest"),
            "operator": api_key(module_redis, "operator"),
        }
    finally:
        for process in started:
            process.stop()


def ingest(gateway: StackProcess, key: str, samples: list[dict[str, Any]]) -> None:
    reply = httpx.post(
        f"{gateway.url}/v1/metrics", json={"samples": samples}, headers={"X-API-Key": key}
    )
    assert reply.status_code == 202, reply.text


def series(resource: str, values: list[float], offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "resource_id": resource,
            "metric": "cpu_utilization",
            "value": value,
            "timestamp": (START + timedelta(minutes=offset + i)).isoformat(),
        }
        for i, value in enumerate(values)
    ]


def raised(client: redis.Redis, resources: dict[int, str]) -> dict[str, str]:
    """resource -> id of the anomaly raised on it, for ``resources``."""
    events = [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)]
    return {
        e["resource_id"]: e["event_id"]
        for e in events
        if e["type"] == "anomaly.detected.v1" and e["resource_id"] in resources.values()
    }


def test_feedback_on_series_in_every_shard_reaches_the_process_that_owns_it(
    stack: dict[str, Any], sync_redis: redis.Redis
) -> None:
    gateway: StackProcess = stack["gateway"]
    resources = one_per_shard("spiky")
    rng = random.Random(5)
    for resource in resources.values():
        ingest(gateway, stack["ingest"], series(resource, [rng.gauss(40, 2) for _ in range(300)]))
    ingest(gateway, stack["ingest"], [s for r in resources.values() for s in series(r, [95], 300)])
    wait_for(
        gateway,
        lambda: len(raised(sync_redis, resources)) == SHARDS,
        60,
        "an anomaly on every resource",
    )
    operator = {"X-API-Key": stack["operator"]}
    for resource, anomaly_id in raised(sync_redis, resources).items():
        indexed = f"{gateway.url}/anomalies/{anomaly_id}"
        wait_for(
            gateway,
            lambda url=indexed: httpx.get(url, headers=operator).is_success,
            20,
            "the gateway to index the anomaly",
        )
        reply = httpx.post(
            f"{gateway.url}/anomaly/{anomaly_id}/feedback",
            json={"verdict": "false_positive"},
            headers=operator,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["applied"] is True, resource
        assert reply.json()["threshold_bias"] > 0


def test_scoring_and_status_answer_for_every_shard(stack: dict[str, Any]) -> None:
    gateway: StackProcess = stack["gateway"]
    resources = one_per_shard("steady")
    operator = {"X-API-Key": stack["operator"]}

    def status() -> dict[str, Any]:
        reply = httpx.get(f"{gateway.url}/anomaly/status", headers=operator)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    before = status()  # what the module's earlier tests left (all of it scored)
    rng = random.Random(6)
    ingest(
        gateway,
        stack["ingest"],
        [s for r in resources.values() for s in series(r, [rng.gauss(40, 2) for _ in range(30)])],
    )
    scored = before["samples_scored"] + 30 * SHARDS
    wait_for(gateway, lambda: status()["samples_scored"] == scored, 30, "every sample")
    assert status()["shards"] == list(range(SHARDS))
    assert status()["series_tracked"] == before["series_tracked"] + SHARDS
    assert status()["processes"] == 2
    # ChatOps (and Slack's buttons, the console) reach the detectors the same way: the whole
    # fleet's status, not the first process's.
    asked = httpx.post(
        f"{gateway.url}/chatops/query", json={"query": "status"}, headers=operator, timeout=30
    )
    assert asked.status_code == 200, asked.text
    assert f"{status()['series_tracked']} series tracked" in asked.json()["text"], asked.text

    at = (START + timedelta(minutes=40)).isoformat()
    asks = [
        {"resource_id": r, "metric": "cpu_utilization", "value": 41.0, "timestamp": at}
        for r in resources.values()
    ]
    for ask in asks:
        one = httpx.post(f"{gateway.url}/anomaly", json=ask, headers=operator)
        assert one.status_code == 200, one.text
        assert one.json()["series_known"] is True, ask["resource_id"]
    batch = httpx.post(f"{gateway.url}/anomaly/batch", json={"requests": asks}, headers=operator)
    assert batch.status_code == 200, batch.text
    answers = batch.json()
    assert [a["resource_id"] for a in answers] == [a["resource_id"] for a in asks]
    assert all(a["series_known"] for a in answers)
    invalid = httpx.post(
        f"{gateway.url}/anomaly/batch",
        json={"requests": [*asks, {**asks[0], "value": "high"}]},
        headers=operator,
    )
    assert invalid.status_code == 422
    assert f"requests[{len(asks)}].value" in [e["field"] for e in invalid.json()["errors"]]


def test_a_model_trained_by_one_process_is_used_by_both_and_activation_reaches_both(
    stack: dict[str, Any], redis_url: str
) -> None:
    gateway: StackProcess = stack["gateway"]
    admin = {"X-API-Key": api_key(redis_url, "admin")}
    detectors: list[StackProcess] = stack["detectors"]

    def train(seed: int) -> str:
        reply = httpx.post(
            f"{gateway.url}/anomaly/train",
            json={"source": "upload", "samples": correlated(300, seed)},
            headers=admin,
            timeout=30,
        )
        assert reply.status_code == 202, reply.text
        job_url = f"{gateway.url}/anomaly/train/{reply.json()['job_id']}"
        wait_for(
            gateway,
            lambda: httpx.get(job_url, headers=admin).json()["status"] != "running",
            90,
            "training",
        )
        job = httpx.get(job_url, headers=admin).json()
        assert job["status"] == "succeeded", job
        version: str = job["version"]
        return version

    def listed(detector: StackProcess) -> list[str]:
        versions = httpx.get(
            f"{detector.url}/anomaly/models", headers={"X-Internal-Token": TOKEN}
        ).json()["versions"]
        return [v["version"] for v in versions]

    def in_use(version: str) -> bool:
        return all(
            httpx.get(f"{d.url}/anomaly/status").json()["multivariate_model"] == version
            for d in detectors
        )

    earlier = listed(detectors[0])  # none, unless the module trained before
    first = train(1)
    wait_for(gateway, lambda: in_use(first), 20, "both processes to use the new model")
    second = train(2)
    wait_for(gateway, lambda: in_use(second), 20, "both processes to use the newer model")
    for detector in detectors:  # either process lists every version
        assert listed(detector) == [*earlier, first, second]
    back = httpx.post(f"{gateway.url}/anomaly/models/rollback", headers=admin)
    assert back.status_code == 200, back.text
    wait_for(gateway, lambda: in_use(first), 20, "both processes to roll back")


def correlated(minutes: int, seed: int) -> list[dict[str, Any]]:
    """CPU and memory moving together on five resources, one sample a minute."""
    rng = random.Random(seed)
    samples = []
    for minute in range(minutes):
        at = (START + timedelta(minutes=minute)).isoformat()
        for r in range(5):
            load = rng.gauss(50, 15)
            for metric, value in (
                ("cpu_utilization", load + rng.gauss(0, 2)),
                ("memory_utilization", 30 + 0.5 * load + rng.gauss(0, 1)),
            ):
                samples.append(
                    {"resource_id": f"app-{r}", "metric": metric, "value": value, "timestamp": at}
                )
    return samples
