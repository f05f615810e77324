"""One correlation id follows a sample to the action, its outcome and Slack.

The README: the gateway's ``X-Correlation-ID`` "follows the samples to the Slack message and
appears on every log line on the way"; the troubleshooting guide: "To follow one incident
through every service, search all logs for its correlation id."

Real processes (gateway, detector, remediator, a Celery worker, notifier, Redis, moto's AWS
server, a Slack stand-in): a normal series, then a spike sent with our own correlation id, on an
opted-in instance the shipped ``cpu-critical`` rule restarts a service on through SSM. The
anomaly, the decision, the worker's lines about the action once SSM answered (written by the
tasks that poll the command and verify it, which carry only the run id) and the Slack messages
all carry the id."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from services.remediator.aws.session import AwsApi, AwsConfig
from shared.events import RemediationStatus
from tests.support.aws_fleet import instances, sent_commands
from tests.support.moto_server import moto_server
from tests.support.processes import StackProcess, api_key, service, stack_env, worker
from tests.support.records import first_record
from tests.support.slack_standin import SlackStandIn

CORRELATION = "trace-follows-the-action-0001"
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_the_correlation_id_is_on_every_log_line_about_the_action(
    redis_url: str, aws: str, slack: SlackStandIn, tmp_path: Path
) -> None:
    api = AwsApi(
        AwsConfig(
            region=REGION,
            endpoint_url=aws,
            access_key_id="testing",
            secret_access_key="testing",
            attempts=3,
            max_wait_s=0.2,
        )
    )
    instances(api, 1, {"Name": "web-1"})
    env = stack_env(
        redis_url,
        {
            "SCOPS_DRY_RUN": "false",
            "SCOPS_AWS_REGION": REGION,
            "SCOPS_AWS_ENDPOINT_URL": aws,
            "SCOPS_AWS_ACCESS_KEY_ID": "testing",
            "SCOPS_AWS_SECRET_ACCESS_KEY": "testing",
            "SCOPS_SSM_POLL_FIRST_S": "0.2",
            "SCOPS_SLACK_WEBHOOK_URL": slack.url,
            "SCOPS_GROUP_WAIT_S": "1",
        },
    )
    names = ("gateway", "detector", "remediator", "notifier")
    processes: dict[str, StackProcess] = {n: service(n, env, tmp_path) for n in names}
    processes["worker"] = worker(env, tmp_path)
    for process in processes.values():
        process.start()
    try:
        for name in names:
            processes[name].wait_ready()
        key = api_key(redis_url, "ingest")
        gateway = processes["gateway"].url
        start = datetime.now(UTC) - timedelta(minutes=320)
        rng = random.Random(7)
        normal = [
            {
                "resource_id": "web-1",
                "metric": "cpu_utilization",
                "value": round(rng.gauss(35, 2), 2),
                "timestamp": (start + timedelta(minutes=i)).isoformat(),
            }
            for i in range(300)
        ]
        reply = httpx.post(
            f"{gateway}/v1/metrics", json={"samples": normal}, headers={"X-API-Key": key}
        )
        assert reply.status_code == 202, reply.text
        time.sleep(3)
        spike = {
            "resource_id": "web-1",
            "metric": "cpu_utilization",
            "value": 99.0,
            "timestamp": datetime.now(UTC).isoformat(),
        }
        reply = httpx.post(
            f"{gateway}/v1/metrics",
            json={"samples": [spike]},
            headers={"X-API-Key": key, "X-Correlation-ID": CORRELATION},
        )
        assert reply.status_code == 202, reply.text
        # The action runs and succeeds; Slack is told.
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 90
        while not (
            first_record(client, RemediationStatus.SUCCEEDED) is not None and slack.received
        ):
            processes["worker"].assert_alive()
            assert time.monotonic() < deadline, processes["worker"].log_tail()
            time.sleep(0.3)
        client.close()
        assert len(sent_commands(api)) == 1
        time.sleep(2)  # the message telling the outcome (alone or folded into the anomaly's)
        assert all(CORRELATION in json.dumps(r.body) for r in slack.received)  # sound
    finally:
        for process in processes.values():
            process.stop()

    lines = [
        json.loads(line)
        for process in processes.values()
        for line in process.log_text().splitlines()
        if line.startswith("{")
    ]
    ours = [line for line in lines if line.get("correlation_id") == CORRELATION]
    run_ids = {line["run_id"] for line in ours if "run_id" in line}
    anomaly_ids = {line["anomaly_id"] for line in ours if "anomaly_id" in line}
    assert run_ids and anomaly_ids  # the id reached the worker's decision and action
    about_it = [
        line
        for line in lines
        if line.get("run_id") in run_ids or line.get("anomaly_id") in anomaly_ids
    ]
    without = [
        {k: line.get(k) for k in ("service", "event", "status", "run_id", "correlation_id")}
        for line in about_it
        if line.get("correlation_id") != CORRELATION
    ]
    assert without == [], (
        f"{len(without)} log line(s) about this anomaly's action have no correlation id "
        f"{CORRELATION!r}: {without}"
    )
