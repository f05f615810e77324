"""The whole pipeline with every process real: Redis, four uvicorn services, a Celery worker,
and a local HTTP server standing in for Slack."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.streams import ANOMALIES, REMEDIATIONS
from tests.support.processes import (
    SERVICES,
    StackProcess,
    api_key,
    service,
    stack_env,
    worker,
)
from tests.support.slack_standin import SlackStandIn

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    processes: dict[str, StackProcess]
    slack: SlackStandIn
    key: str

    def url(self, name: str) -> str:
        url = self.processes[name].url
        assert url is not None
        return url

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes.values())


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one stack serves the module; each test sends its own
    resources and reads what it added."""
    return module_redis


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("pipeline-logs")
    slack = SlackStandIn().start()
    # A short group wait: the anomaly's message waits this long for the remediation decision.
    env = stack_env(
        module_redis, {"SCOPS_SLACK_WEBHOOK_URL": slack.url, "SCOPS_GROUP_WAIT_S": "1.5"}
    )
    processes = {name: service(name, env, log_dir).start() for name in SERVICES}
    processes["worker"] = worker(env, log_dir).start()
    try:
        for name in SERVICES:
            processes[name].wait_ready()
        yield Stack(processes, slack, api_key(module_redis, "ingest"))
    finally:
        codes = {name: p.stop() for name, p in processes.items()}
        slack.stop()
    # Every process stops cleanly on SIGTERM: uvicorn finishes its lifespan (the consumer
    # finishes what it read) and re-raises the signal; Celery does a warm shutdown.
    for name in SERVICES:
        assert codes[name] in (0, -15), (name, codes[name])
        log = processes[name].log_text()
        assert "Application shutdown complete" in log, name
        if name != "gateway":
            assert "consumer_stopped" in log, name
    assert codes["worker"] == 0, processes["worker"].log_tail()


RESOURCES = {"web-1": 35.0, "web-2": 40.0, "db-1": 55.0}
QUIET_RESOURCES = {"api-1": 35.0, "api-2": 40.0, "cache-1": 55.0}  # the normal-load test's own


def normal_samples(
    per_resource: int, start: datetime, resources: dict[str, float] = RESOURCES
) -> list[dict[str, Any]]:
    """``per_resource`` samples a minute apart for each resource, interleaved."""
    rng = random.Random(42)
    samples = []
    for i in range(per_resource):
        ts = (start + timedelta(minutes=i)).isoformat()
        for resource, mean in resources.items():
            samples.append(
                {
                    "resource_id": resource,
                    "metric": "cpu_utilization",
                    "value": round(rng.gauss(mean, 2.5), 2),
                    "timestamp": ts,
                }
            )
    return samples


def post(stack: Stack, samples: list[dict[str, Any]]) -> str:
    reply = httpx.post(
        f"{stack.url('gateway')}/v1/metrics",
        json={"samples": samples},
        headers={"X-API-Key": stack.key},
    )
    assert reply.status_code == 202, reply.text
    correlation_id: str = reply.json()["correlation_id"]
    return correlation_id


def scored(stack: Stack) -> int:
    count: int = httpx.get(f"{stack.url('detector')}/anomaly/status").json()["samples_scored"]
    return count


def wait_scored(stack: Stack, count: int, timeout: float = 20.0) -> None:
    """Until the detector has scored ``count`` samples since it started."""
    deadline = time.monotonic() + timeout
    scored_so_far = -1
    while time.monotonic() < deadline:
        scored_so_far = scored(stack)
        if scored_so_far >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"detector scored {scored_so_far} of {count} samples")


def stream_events(
    client: redis.Redis, stream: str, kind: str = "", since: int = 0
) -> list[dict[str, Any]]:
    """Events on ``stream`` (of ``kind``) after its first ``since`` entries."""
    events = [json.loads(fields[b"data"]) for _, fields in client.xrange(stream)[since:]]
    return [e for e in events if not kind or e["type"] == kind]


def test_spike_becomes_one_anomaly_one_decision_one_slack_message(
    stack: Stack, sync_redis: redis.Redis
) -> None:
    seen = {stream: sync_redis.xlen(stream) for stream in (ANOMALIES, REMEDIATIONS)}
    messages = len(stack.slack.accepted)
    start = datetime.now(UTC) - timedelta(days=1)
    samples = normal_samples(300, start)
    for i in range(0, len(samples), 90):
        post(stack, samples[i : i + 90])
    spike_at = (start + timedelta(minutes=300)).isoformat()
    spike = {
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "value": 97.0,
        "timestamp": spike_at,
    }
    correlation_id = post(stack, [spike])

    delivered = stack.slack.wait_for(messages + 1)[messages:]
    time.sleep(1.5)  # room for any duplicate to show up

    anomalies = stream_events(sync_redis, ANOMALIES, "anomaly.detected.v1", seen[ANOMALIES])
    records = stream_events(sync_redis, REMEDIATIONS, since=seen[REMEDIATIONS])
    assert [(a["resource_id"], a["severity"]) for a in anomalies] == [("web-1", "critical")]
    assert len(records) == 1
    assert records[0]["anomaly_id"] == anomalies[0]["event_id"]
    assert len(stack.slack.accepted) == messages + 1
    message = json.dumps(delivered[0])
    assert "web-1" in message
    assert "CRITICAL" in message
    # That one message is the anomaly's: it carries the remediation decision (folded in during
    # the group wait) and the team's buttons.
    assert "*Decision:*" in message
    assert "scops.anomaly.acknowledge" in message
    # The correlation id follows the sample from the gateway to Slack, through every log.
    assert anomalies[0]["correlation_id"] == correlation_id
    # So does who sent it: the key's owner never approves what the anomaly asks for.
    assert anomalies[0]["sent_by"] == "person:test"
    assert correlation_id in message
    for name in ("gateway", "detector", "worker", "notifier"):
        assert correlation_id in stack.processes[name].log_text(), name
    # The webhook URL is a secret: in no log line.
    assert "XXXX" not in stack.logs()


def test_normal_load_raises_nothing(stack: Stack, sync_redis: redis.Redis) -> None:
    seen = {stream: sync_redis.xlen(stream) for stream in (ANOMALIES, REMEDIATIONS)}
    messages, already_scored = len(stack.slack.received), scored(stack)
    samples = normal_samples(300, datetime.now(UTC) - timedelta(days=1), QUIET_RESOURCES)
    for i in range(0, len(samples), 90):
        post(stack, samples[i : i + 90])
    wait_scored(stack, already_scored + len(samples))
    time.sleep(1.0)
    assert stream_events(sync_redis, ANOMALIES, since=seen[ANOMALIES]) == []
    assert stream_events(sync_redis, REMEDIATIONS, since=seen[REMEDIATIONS]) == []
    assert stack.slack.received[messages:] == []
