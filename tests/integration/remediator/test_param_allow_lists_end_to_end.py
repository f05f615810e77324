"""Attacker-chosen parameters through the real stack (gateway, remediator, a Celery worker,
Redis, moto's AWS server): an Alertmanager alert posted with an ingest key cannot choose the
systemd unit the shipped rules restart, and a manual request cannot clean the root file system.
Nothing reaches SSM; the refusal is a recorded decision naming the parameter and why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from services.remediator.aws.session import AwsApi
from shared.events import RemediationRecord, RemediationStatus
from tests.integration.remediator.conftest import aws_worker_env
from tests.support.aws_fleet import instances, sent_commands
from tests.support.processes import StackProcess, api_key, service, worker
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import RULES

FINAL = {RemediationStatus.SUCCEEDED, RemediationStatus.FAILED, RemediationStatus.BLOCKED}


@dataclass
class Stack:
    gateway: str
    processes: list[StackProcess]

    def assert_alive(self) -> None:
        for process in self.processes:
            process.assert_alive()

    def logs(self) -> str:
        return "\n".join(p.log_tail(20) for p in self.processes)


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one stack serves the module; each test acts on instances of
    its own and reads the records about them."""
    return module_redis


@pytest.fixture(scope="module")
def stack(
    module_redis: str, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The shipped rules file, acting for real (no dry run) on the local AWS server (whose
    state each test still resets, through ``aws``)."""
    log_dir = tmp_path_factory.mktemp("allow-list-logs")
    env = aws_worker_env(module_redis, moto_server, RULES)
    processes = [service("gateway", env, log_dir), service("remediator", env, log_dir)]
    processes.append(worker(env, log_dir))
    for process in processes:
        process.start()
    try:
        for process in processes[:2]:
            process.wait_ready()
        assert processes[0].url is not None
        yield Stack(processes[0].url, processes)
    finally:
        for process in processes:
            process.stop()


def cpu_alert(instance: str, service_label: str, fingerprint: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "cpu_utilization",
            "instance": instance,
            "severity": "critical",
            "service": service_label,
        },
        "annotations": {"summary": "CPU above 95 %", "value": "98"},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def final_records(
    stack: Stack, client: redis.Redis, resources: set[str]
) -> list[RemediationRecord]:
    """The final decisions about ``resources``, once there is one for each."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        stack.assert_alive()
        records = remediation_records(client)
        done = [r for r in records if r.status in FINAL and r.resource_id in resources]
        if len(done) >= len(resources):
            return done
        time.sleep(0.2)
    raise AssertionError(f"no final decision for {resources}:\n{stack.logs()}")


def test_an_alert_label_cannot_choose_the_unit_to_restart(
    stack: Stack, aws: AwsApi, redis_url: str, sync_redis: redis.Redis
) -> None:
    attacked, control = instances(aws, 2)
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "smartcloudops",
        "groupKey": '{}:{alertname="cpu_utilization"}',
        "alerts": [
            cpu_alert(attacked, "poweroff.target", "f0f0f0f0f0f0f0f1"),
            cpu_alert(control, "nginx", "f0f0f0f0f0f0f0f2"),  # shows the path does act
        ],
    }
    ingest = {"Authorization": f"Bearer {api_key(redis_url, 'ingest')}"}
    reply = httpx.post(f"{stack.gateway}/v1/alerts/alertmanager", json=body, headers=ingest)
    assert reply.status_code == 202, reply.text

    by_resource = {r.resource_id: r for r in final_records(stack, sync_redis, {attacked, control})}
    refused = by_resource[attacked]
    assert refused.status == RemediationStatus.BLOCKED
    assert refused.rule == "cpu-critical" and refused.action == "restart_service"
    # Refused while its parameters were checked (the engine files these with the targets).
    assert refused.blocked_by == "invalid_params"
    assert "parameter service" in refused.reason
    assert "unit poweroff.target is not allowed: only .service units" in refused.reason
    acted = by_resource[control]
    assert acted.status == RemediationStatus.SUCCEEDED, acted.reason

    (command,) = sent_commands(aws)  # the control alert's, and nothing for the attacked one
    assert command["Comment"] == f"scops run {acted.run_id}"
    assert "systemctl restart nginx.service" in command["Parameters"]["commands"]
    assert not any("poweroff" in c for c in command["Parameters"]["commands"])


def test_a_manual_request_cannot_clean_the_root_file_system(
    stack: Stack, aws: AwsApi, redis_url: str, sync_redis: redis.Redis
) -> None:
    (target,) = instances(aws, 1)
    seen = len(remediation_records(sync_redis))
    operator = {"X-API-Key": api_key(redis_url, "operator", "ana")}
    reply = httpx.post(
        f"{stack.gateway}/remediation/execute",
        json={
            "action": "cleanup_disk",
            "target": {"instance_ids": [target]},
            "params": {"paths": ["/."]},
            "reason": "disk full",
            "by": "ana",
        },
        headers=operator,
    )
    assert 400 <= reply.status_code < 500, reply.text
    problem = reply.json()
    assert problem.get("blocked_by") == "invalid_params", problem
    assert "paths" in problem["detail"] and "'/.'" in problem["detail"]
    # The one decision about this target (the earlier test's may still add records of its own).
    (record,) = [
        r for r in remediation_records(sync_redis)[seen:] if target in f"{r.resource_id} {r.target}"
    ]
    assert (record.status, record.blocked_by) == (RemediationStatus.BLOCKED, "invalid_params")
    assert "'/.'" in record.reason
    time.sleep(1.0)  # room for a wrong dispatch to reach the worker
    assert sent_commands(aws) == []
