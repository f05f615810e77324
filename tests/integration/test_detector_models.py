"""Training the multivariate model on a real detector: jobs, versions, rollback, and a live
anomaly that only the combination of metrics shows."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.bus import encode_event
from shared.events import MetricBatch, MetricSample
from shared.streams import ANOMALIES, metrics_stream, shard_of
from tests.support.processes import StackProcess, api_key, service, stack_env

TOKEN = "test-internal-token"
AUTH = {"X-Internal-Token": TOKEN}
START = datetime(2026, 1, 1, tzinfo=UTC)
RESOURCES = [f"web-{i}" for i in range(5)]


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one detector serves the module; each test reads the versions
    and anomalies it added."""
    return module_redis


@pytest.fixture(scope="module")
def detector(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    log_dir = tmp_path_factory.mktemp("models-logs")
    env = stack_env(
        module_redis,
        {
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_MODEL_DIR": str(tmp_path_factory.mktemp("models")),
            "SCOPS_MULTIVARIATE_METRICS": (
                # disk: a feature metric these resources never send
                '["cpu_utilization", "memory_utilization", "disk_used_percent"]'
            ),
            "SCOPS_MULTIVARIATE_COOLDOWN_S": "0",
        },
    )
    process = service("detector", env, log_dir).start().wait_ready()
    yield process
    process.stop()


def correlated(minutes: int, seed: int) -> list[dict[str, Any]]:
    """Memory follows CPU on every resource, each around its own level."""
    rng = random.Random(seed)
    samples = []
    for i in range(minutes):
        ts = (START + timedelta(minutes=i)).isoformat()
        for n, resource in enumerate(RESOURCES):
            load = rng.uniform(20, 80)
            samples.append(
                {
                    "resource_id": resource,
                    "metric": "cpu_utilization",
                    "value": 10 * n + load,
                    "timestamp": ts,
                }
            )
            samples.append(
                {
                    "resource_id": resource,
                    "metric": "memory_utilization",
                    "value": 30 + 0.5 * load + rng.gauss(0, 1),
                    "timestamp": ts,
                }
            )
    return samples


def train(detector: StackProcess, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(f"{detector.url}/anomaly/train", json=body, headers=AUTH, timeout=30)
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = httpx.get(
            f"{detector.url}/anomaly/train/{job_id}", headers=AUTH
        ).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def model_info(detector: StackProcess) -> dict[str, set[str]]:
    """kind -> versions exported by ml_model_info (value 1)."""
    text = httpx.get(f"{detector.url}/metrics").text
    found: dict[str, set[str]] = {}
    pattern = r'^ml_model_info\{kind="([^"]+)",version="([^"]+)"\} 1\.0$'
    for kind, version in re.findall(pattern, text, re.MULTILINE):
        found.setdefault(kind, set()).add(version)
    return found


def test_training_versions_and_rollback(detector: StackProcess) -> None:
    assert httpx.post(f"{detector.url}/anomaly/train", json={}).status_code == 401
    status = httpx.get(f"{detector.url}/anomaly/status").json()
    # The versions the module trained before this test: none when it runs first, and then
    # the exported multivariate version is "none".
    earlier = httpx.get(f"{detector.url}/anomaly/models", headers=AUTH).json()
    assert model_info(detector) == {
        "streaming": {status["model_version"]},
        "multivariate": {earlier["active"] or "none"},
    }

    first = train(detector, {"source": "upload", "samples": correlated(400, seed=1)})
    assert first["status"] == "succeeded", first
    assert first["trained_on"]["resources"] == 5
    assert first["holdout"]["n_holdout"] > 0
    assert first["holdout"]["threshold"] == 0.999  # what the live view flags at
    second = train(detector, {"source": "upload", "samples": correlated(400, seed=2)})
    models = httpx.get(f"{detector.url}/anomaly/models", headers=AUTH).json()
    assert models["active"] == second["version"]
    assert [v["version"] for v in models["versions"]] == [
        *(v["version"] for v in earlier["versions"]),
        first["version"],
        second["version"],
    ]
    assert "scaler" not in models["versions"][-2]
    assert model_info(detector)["multivariate"] == {second["version"]}

    back = httpx.post(f"{detector.url}/anomaly/models/rollback", headers=AUTH)
    assert back.json() == {"active": first["version"]}
    status = httpx.get(f"{detector.url}/anomaly/status").json()
    assert status["multivariate_model"] == first["version"]
    assert model_info(detector)["multivariate"] == {first["version"]}
    unknown = httpx.post(f"{detector.url}/anomaly/models/nope/activate", headers=AUTH)
    assert unknown.status_code == 404

    empty = train(detector, {"source": "upload", "samples": correlated(1, seed=3)})
    assert empty["status"] == "failed"
    assert "time buckets" in empty["error"]


def test_excluded_ranges_are_left_out_of_training(detector: StackProcess) -> None:
    body = {
        "source": "upload",
        "samples": correlated(300, seed=4),
        "exclude": [
            {
                "start": START.isoformat(),
                "end": (START + timedelta(minutes=99)).isoformat(),
                "reason": "load test",
            }
        ],
    }
    job = train(detector, body)
    assert job["status"] == "succeeded", job
    assert job["trained_on"]["samples_excluded"] == 100 * len(RESOURCES) * 2


def test_a_broken_combination_raises_a_multivariate_anomaly(
    detector: StackProcess, sync_redis: redis.Redis
) -> None:
    seen = sync_redis.xlen(ANOMALIES)
    history = correlated(400, seed=5)
    for i in range(0, len(history), 500):
        batch = [MetricSample.model_validate(s) for s in history[i : i + 500]]
        by_shard: dict[int, list[MetricSample]] = {}
        for s in batch:
            by_shard.setdefault(shard_of(s.resource_id, 4), []).append(s)
        for shard, group in by_shard.items():
            sync_redis.xadd(metrics_stream(shard), encode_event(MetricBatch(samples=group)))
    job = train(
        detector,
        {
            "source": "history",
            "since": START.isoformat(),
            "until": (START + timedelta(days=1)).isoformat(),
        },
    )
    assert job["status"] == "succeeded", job
    assert job["trained_on"]["rows"] >= 400 * len(RESOURCES) * 0.9

    # web-2 at a normal CPU level for it, with memory far below what that CPU always brings.
    at = START + timedelta(minutes=500)
    broken = [
        MetricSample(resource_id="web-2", metric="cpu_utilization", value=90.0, timestamp=at),
        MetricSample(resource_id="web-2", metric="memory_utilization", value=32.0, timestamp=at),
    ]
    time.sleep(1.1)  # the live view scores at most once a second
    sync_redis.xadd(metrics_stream(shard_of("web-2", 4)), encode_event(MetricBatch(samples=broken)))
    deadline = time.monotonic() + 15
    found: list[dict[str, Any]] = []
    while not found:
        assert time.monotonic() < deadline, "no multivariate anomaly"
        events = [json.loads(f[b"data"]) for _, f in sync_redis.xrange(ANOMALIES)[seen:]]
        found = [e for e in events if e.get("metric") == "multivariate"]
        time.sleep(0.1)
    assert found[0]["resource_id"] == "web-2"
    assert set(found[0]["contributing_metrics"]) & {"cpu_utilization", "memory_utilization"}
    assert found[0]["model_version"] == job["version"]


def test_one_training_job_at_a_time_and_ranges_that_name_a_time(detector: StackProcess) -> None:
    """Each job holds its samples in memory and a core busy: a second one while the first
    runs is a 409 (thirty were accepted at once before). A range backwards, or one whose
    default start would fall before year 1, is a 422 naming ``until`` (not a 500)."""
    url = f"{detector.url}/anomaly/train"
    body = {"source": "upload", "samples": correlated(600, seed=11)}
    first = httpx.post(url, json=body, headers=AUTH, timeout=30)
    second = httpx.post(url, json=body, headers=AUTH, timeout=30)
    assert first.status_code == 202, first.text
    assert second.status_code == 409, second.text
    assert first.json()["job_id"] in second.json()["detail"]
    job_id = first.json()["job_id"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/{job_id}", headers=AUTH).json()["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    now = datetime.now(UTC)
    for bad in (
        {"until": "0001-01-01T00:00:00Z"},
        {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
    ):
        reply = httpx.post(url, json={"source": "history", **bad}, headers=AUTH, timeout=30)
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"] == "until", reply.text


def test_training_needs_no_body(
    detector: StackProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every field of a training request has a default (the last day of the metric streams),
    so ``curl -X POST .../anomaly/train`` without a body starts that job, on the detector and
    through the gateway, rather than asking for a body."""
    assert detector.url is not None
    env = stack_env(redis_url, {"SCOPS_INTERNAL_TOKEN": TOKEN, "SCOPS_DETECTOR_URL": detector.url})
    gateway = service("gateway", env, tmp_path_factory.mktemp("train-gateway")).start()
    admin = {"X-API-Key": api_key(redis_url, "admin")}
    try:
        gateway.wait_ready()
        for url, headers in ((detector.url, AUTH), (gateway.url, admin)):
            reply = httpx.post(f"{url}/anomaly/train", headers=headers, timeout=30)
            assert reply.status_code == 202, reply.text
            job = reply.json()
            assert job["source"] == "history", job
            deadline = time.monotonic() + 60
            while job["status"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
                job = httpx.get(
                    f"{detector.url}/anomaly/train/{job['job_id']}", headers=AUTH
                ).json()
    finally:
        gateway.stop()
