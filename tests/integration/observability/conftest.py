"""The whole stack, real processes, fed a little traffic so that every kind of metric has
samples; its /metrics scraped once for the tests of this package."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aioboto3
import httpx
import pytest
import redis

from scops.local_redis import free_port
from services.gateway.alertmanager import AlertmanagerPayload, to_events
from shared.bus import encode_event
from shared.streams import ANOMALIES, GROUP_GATEWAY, REMEDIATIONS
from tests.support.exposition import Family, parse
from tests.support.moto_server import CREDENTIALS, REGION, moto_server
from tests.support.processes import (
    ALL_SERVICES,
    StackProcess,
    api_key,
    service,
    stack_env,
    worker,
)
from tests.support.slack_standin import SlackStandIn

# Every service, the history included (its metrics are in the README's table too).
OBSERVED = (*ALL_SERVICES, "history")
INTERNAL = {"X-Internal-Token": "change-me"}  # the placeholder is accepted in SCOPS_ENV=test


@dataclass
class ObservedStack:
    processes: dict[str, StackProcess]
    redis_url: str
    slack: SlackStandIn
    ingest_key: str
    scraped: dict[str, dict[str, Family]] = field(default_factory=dict)  # after the traffic

    def ingest(self) -> dict[str, str]:
        return {"X-API-Key": self.ingest_key}

    def url(self, name: str) -> str:
        url = self.processes[name].url
        assert url is not None
        return url

    def port(self, name: str) -> int:
        if name == "worker":
            return int(self.processes["worker"].env["SCOPS_WORKER_METRICS_PORT"])
        return int(self.url(name).rsplit(":", 1)[1])

    def scrape(self) -> dict[str, dict[str, Family]]:
        """Every service's /metrics, and the Celery worker's (celery_* only)."""
        scraped = {n: parse(httpx.get(f"{self.url(n)}/metrics").text) for n in OBSERVED}
        worker = f"http://127.0.0.1:{self.port('worker')}/metrics"
        scraped["worker"] = parse(httpx.get(worker).text)
        return scraped

    def records(self) -> list[dict[str, Any]]:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return [json.loads(f[b"data"]) for _, f in client.xrange(REMEDIATIONS)]
        finally:
            client.close()


AMI = "ami-12c6146b"  # one of the images the local AWS server knows
FULL_GROUP = "full-group"


def _samples(now: datetime) -> list[dict[str, Any]]:
    """A minute of CPU for two resources, then full disks on web-1 and db-1: a hard limit
    pages at once, whatever the warm-up."""
    rng = random.Random(7)
    samples = [
        {
            "resource_id": resource,
            "metric": "cpu_utilization",
            "value": round(rng.gauss(40.0, 2.0), 2),
            "timestamp": (now - timedelta(seconds=60 - i)).isoformat(),
        }
        for i in range(60)
        for resource in ("web-1", "db-1")
    ]
    samples += [
        {
            "resource_id": r,
            "metric": "disk_used_percent",
            "value": 99.0,
            "timestamp": now.isoformat(),
        }
        for r in ("web-1", "db-1")
    ]
    return samples


def _post(url: str, body: dict[str, Any], headers: dict[str, str], expect: int = 202) -> None:
    reply = httpx.post(url, json=body, headers=headers, timeout=10)
    assert reply.status_code == expect, reply.text


def _drive_traffic(stack: ObservedStack) -> None:
    """One of each outcome, so that every dashboard panel has something to show: an action
    that succeeds through SSM (web-1), one refused by a maintenance window (db-1), one that
    fails (scaling out a group at its maximum), one refused because its target was just acted on;
    a Slack delivery that fails once then succeeds; a training run. (Entries reclaimed from a
    dead consumer: see _leave_an_entry_pending.)"""
    remediator, gateway = stack.url("remediator"), stack.url("gateway")
    window = {"target_pattern": "db-*", "duration": "1h", "reason": "metrics test", "by": "t"}
    _post(f"{remediator}/remediation/maintenance", window, INTERNAL, expect=201)
    stack.slack.answer(500)
    _post(f"{gateway}/v1/metrics", {"samples": _samples(datetime.now(UTC))}, stack.ingest())
    manual = {"reason": "metrics test", "by": "t"}
    _post(
        f"{remediator}/remediation/execute",
        {"action": "scale_out", "target": {"auto_scaling_group": FULL_GROUP}, **manual},
        INTERNAL,
    )
    training = {"source": "upload", "samples": _samples(datetime.now(UTC))[:2]}
    _post(f"{stack.url('detector')}/anomaly/train", training, INTERNAL)
    _wait_for(stack, lambda s: {"succeeded", "blocked", "failed"} <= set(s), "first decisions")
    # web-1 was just acted on (cooldown); the hour's budget of 2 actions is spent (rate_limit).
    # Manual requests are refused at once (403) and recorded, like any refusal.
    for name, check in (("web-1", "cooldown"), ("web-2", "rate_limit")):
        reply = httpx.post(
            f"{remediator}/remediation/execute",
            json={"action": "cleanup_disk", "target": {"tags": {"Name": name}}, **manual},
            headers=INTERNAL,
            timeout=10,
        )
        assert (reply.status_code, reply.json().get("blocked_by")) == (403, check), reply.text
    _wait_for(stack, lambda s: s.count("blocked") >= 3, "refusals by cooldown and rate limit")


def _leave_an_entry_pending(redis_url: str) -> None:
    """Before the services start: a consumer of the gateway's group reads an anomaly event and
    dies without acknowledging it. The gateway reclaims it (scops_events_reclaimed_total)."""
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "ReclaimCheck", "instance": "ghost-1"},
                    "startsAt": datetime.now(UTC).isoformat(),
                }
            ],
        }
    )
    client = redis.Redis.from_url(redis_url)
    try:
        client.xgroup_create(ANOMALIES, GROUP_GATEWAY, id="0", mkstream=True)
        for event in to_events(payload, "reclaim-check"):
            client.xadd(ANOMALIES, encode_event(event))
        client.xreadgroup(GROUP_GATEWAY, "dead-consumer", {ANOMALIES: ">"}, count=1)
    finally:
        client.close()


def _wait_for(
    stack: ObservedStack, done: Callable[[list[str]], bool], what: str, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done([r["status"] for r in stack.records()]) and stack.slack.accepted:
            return
        time.sleep(0.2)
    raise AssertionError(f"waiting for {what}: records {stack.records()}")


async def _aws_instance(endpoint: str, name: str) -> None:
    """An EC2 instance tagged Name=``name`` and opted in to remediation (SCOPS_ENV=test) on
    the local AWS server (SSM can target it)."""
    session = aioboto3.Session()
    async with session.client(
        "ec2", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS
    ) as ec2:
        await ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": name},
                        {"Key": "SmartCloudOpsRemediation", "Value": "test"},
                    ],
                }
            ],
        )


async def _aws_full_group(endpoint: str, name: str) -> None:
    """An Auto Scaling group opted in to remediation and at its maximum (a scale-out fails)."""
    session = aioboto3.Session()
    async with session.client(
        "autoscaling", endpoint_url=endpoint, region_name=REGION, **CREDENTIALS
    ) as asg:
        await asg.create_launch_configuration(
            LaunchConfigurationName=name, ImageId=AMI, InstanceType="t3.micro"
        )
        await asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchConfigurationName=name,
            MinSize=0,
            MaxSize=0,
            DesiredCapacity=0,
            AvailabilityZones=[f"{REGION}a"],
            Tags=[
                {
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                    "Key": "SmartCloudOpsRemediation",
                    "Value": "test",
                    "PropagateAtLaunch": True,
                }
            ],
        )


@pytest.fixture(scope="package")
def observed(
    redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedStack]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    _leave_an_entry_pending(redis_server)
    log_dir: Path = tmp_path_factory.mktemp("observability-logs")
    slack = SlackStandIn().start()
    with moto_server() as aws:
        asyncio.run(_aws_instance(aws, "web-1"))
        asyncio.run(_aws_instance(aws, "web-2"))  # a manual request meets the rate limit
        asyncio.run(_aws_instance(aws, "db-1"))  # in a maintenance window
        asyncio.run(_aws_full_group(aws, FULL_GROUP))  # scaling it out fails
        env = stack_env(
            redis_server,
            {
                "SCOPS_SLACK_WEBHOOK_URL": slack.url,
                "SCOPS_GROUP_WAIT_S": "0.5",
                "SCOPS_DRY_RUN": "false",
                "SCOPS_EXECUTOR": "ssm",
                "SCOPS_AWS_REGION": REGION,
                "SCOPS_AWS_ENDPOINT_URL": aws,
                "SCOPS_AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "SCOPS_AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                "SCOPS_AWS_ATTEMPTS": "1",
                "SCOPS_RATE_LIMIT_PER_HOUR": str(HOUR_BUDGET),
                "SCOPS_SSM_POLL_FIRST_S": "0.2",
                "SCOPS_SSM_POLL_MAX_S": "0.5",
                "SCOPS_HISTORY_PORT": str(free_port()),
                "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{log_dir / 'history.db'}",
            },
        )
        processes = {name: service(name, env, log_dir).start() for name in OBSERVED}
        worker_env = {**env, "SCOPS_WORKER_METRICS_PORT": str(free_port())}
        processes["worker"] = worker(worker_env, log_dir).start()
        try:
            for name in OBSERVED:
                processes[name].wait_ready(timeout=90)
            stack = ObservedStack(processes, redis_server, slack, api_key(redis_server, "ingest"))
            _drive_traffic(stack)
            stack.scraped = _scrape_once_stream_gauges_are_set(stack)
            yield stack
        finally:
            for process in processes.values():
                process.stop()
            slack.stop()


# Actions allowed per hour: the traffic spends them all (one action succeeds, one fails).
HOUR_BUDGET = 2
# Set by each consumer when it exports its group's stats (at its start, then every 5 s).
STREAM_GAUGES = (
    "scops_stream_lag",
    "scops_stream_pending",
    "scops_stream_length",
    "scops_dead_letter_length",
)


def _gauge_value(families: dict[str, Family], text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total if name in families else 0.0


def _scrape_once_stream_gauges_are_set(
    stack: ObservedStack, timeout: float = 20.0
) -> dict[str, dict[str, Family]]:
    """The services' /metrics once they show what the traffic left: some consumer has set
    every stream gauge (so their labels can be checked) and the remediator's gauges of shared
    state (read from Redis every few seconds) count every action the traffic ran. Polled, not
    slept for."""
    deadline = time.monotonic() + timeout
    remediator = f"{stack.url('remediator')}/metrics"
    while True:
        scraped = stack.scrape()
        unset = [
            name
            for name in STREAM_GAUGES
            if not any(f[name].samples for f in scraped.values() if name in f)
        ]
        text = httpx.get(remediator).text
        used = _gauge_value(scraped["remediator"], text, "remediation_actions_hour_used")
        if not unset and used >= HOUR_BUDGET:
            return scraped
        if time.monotonic() > deadline:
            raise AssertionError(f"never shown: stream gauges {unset}, actions used {used}")
        time.sleep(0.2)


def find_binary(*names: str) -> str:
    """The first of ``names`` on PATH, or skip: Debian's packages provide them (.ci/run
    installs prometheus and prometheus-alertmanager when it can)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        f"{' or '.join(names)} not installed (apt-get install prometheus prometheus-alertmanager)"
    )


@contextmanager
def running_binary(args: list[str], ready_url: str, log_path: Path) -> Iterator[None]:
    """Run ``args`` until the block ends; ``ready_url`` answering 200 means started."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{args[0]} exited {process.returncode}:\n{log_path.read_text()}"
                )
            try:
                if httpx.get(ready_url, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{args[0]} not ready:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
