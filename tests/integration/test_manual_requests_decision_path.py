"""Manual requests through the gateway (API and ChatOps) take the decision path of every other
request: the approval gate, and safety checks keyed on the resolved target, never on a name the
caller picks. Real gateway, remediator and Celery worker processes on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env, worker


@dataclass
class Stack:
    gateway: StackProcess
    keys: dict[str, str]

    def post(self, path: str, body: dict[str, Any], key: str = "olga") -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}{path}", json=body, headers=self.auth(key), timeout=20
        )

    def get(self, path: str, key: str = "olga", **params: str) -> Any:
        reply = httpx.get(
            f"{self.gateway.url}{path}", params=params, headers=self.auth(key), timeout=20
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    def ask(self, query: str, key: str = "olga") -> dict[str, Any]:
        reply = self.post("/chatops/query", {"query": query}, key)
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    def auth(self, key: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[key]}

    def records(self, **query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/remediation/actions", **query)["items"]
        return items


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("manual-logs")
    env = stack_env(
        module_redis,
        {"SCOPS_DRY_RUN": "false", "SCOPS_DENIED_TARGETS": "db-*"},
    )
    processes = [
        service("remediator", env, logs),
        service("gateway", env, logs),
        worker(env, logs, concurrency=2),
    ]
    try:
        for process in processes:
            process.start()
        for process in processes[:2]:
            process.wait_ready(60)
        keys = {
            "olga": api_key(module_redis, "operator", "olga"),
            "oscar": api_key(module_redis, "operator", "oscar"),
        }
        yield Stack(processes[1], keys)
    finally:
        for process in processes:
            process.stop()


def wait_for(what: str, found: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s")


def test_scale_in_asked_in_chatops_waits_for_someone_other_than_the_requester(
    stack: Stack,
) -> None:
    asked = stack.ask("scale in web-asg by 1 because traffic dropped")
    assert asked["outcome"] == "accepted", asked
    assert asked["data"]["next"] == "approval"
    assert "Nothing runs until it is approved" in asked["text"]
    request_id = asked["data"]["request_id"]
    approval_id = asked["data"]["approval_id"]

    def pending() -> list[dict[str, Any]]:
        records = stack.records(anomaly_id=request_id)
        return [r for r in records if r["status"] == "pending_approval"]

    (record,) = wait_for("pending approval", pending)
    assert record["approval_id"] == approval_id
    own = stack.ask(f"approve {approval_id[:8]}")
    assert own["outcome"] == "refused" and "cannot also approve it" in own["text"], own
    assert stack.get(f"/remediation/approvals/{approval_id}")["state"] == "pending"
    other = stack.ask(f"approve {approval_id[:8]}", "oscar")
    assert other["outcome"] == "accepted", other

    def ran() -> list[dict[str, Any]]:
        records = stack.records(action="scale_in")
        return [r for r in records if r["status"] in ("dry_run", "succeeded")]

    (done,) = wait_for("the approved action", ran)
    assert done["target"] == "asg:web-asg"


def test_resource_id_cannot_move_a_target_out_of_a_window_or_off_the_deny_list(
    stack: Stack,
) -> None:
    window = stack.post(
        "/remediation/maintenance",
        {"target_pattern": "shop-*", "duration": "1h", "reason": "deploy", "by": "x"},
    )
    assert window.status_code == 201, window.text

    def execute(name: str) -> httpx.Response:
        return stack.post(
            "/remediation/execute",
            {
                "action": "restart_service",
                "target": {"tags": {"Name": name}},
                "params": {"service": "nginx"},
                "reason": "stuck workers",
                "by": "olga",
                "resource_id": "anything",
            },
        )

    in_window = execute("shop-3")
    assert in_window.status_code == 403, in_window.text
    assert in_window.json()["blocked_by"] == "maintenance"
    denied = execute("db-1")
    assert denied.status_code == 403, denied.text
    assert denied.json()["blocked_by"] == "deny_list"
    assert "db-1 matches deny-list pattern 'db-*'" in denied.json()["detail"]


def test_one_instance_spelled_twice_meets_the_cooldown_of_the_first_action(
    stack: Stack,
) -> None:
    instance = "i-0abc123def4567890"

    def execute(*ids: str) -> httpx.Response:
        return stack.post(
            "/remediation/execute",
            {
                "action": "cleanup_disk",
                "target": {"instance_ids": list(ids)},
                "params": {"paths": ["/tmp"]},
                "reason": "disk filling",
                "by": "olga",
            },
        )

    first = execute(instance)
    assert first.status_code == 202, first.text
    wait_for(
        "the first action's outcome",
        lambda: [r for r in stack.records(action="cleanup_disk") if r["status"] == "dry_run"],
    )
    for spelling in ((instance, instance), ("i-0fff123def4567890", instance)):
        again = execute(*spelling)
        assert again.status_code == 403, again.text
        assert again.json()["blocked_by"] == "cooldown"
        assert instance in again.json()["detail"]
