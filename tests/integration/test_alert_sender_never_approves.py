"""The person whose key sent what a rule acted on never approves that action: an operator
key may also ingest, and an alert it posts is that operator's request (the four-eyes rule
would otherwise fall to one operator posting an alert and approving it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scops.keys import create_key
from services.gateway.api_keys import Role
from tests.support.processes import StackProcess, service, stack_env, worker

RULES = """\
version: 1
policy:
  approval_for_risk: [high]
rules:
  - name: idle-group
    description: An idle group loses an instance; high risk, so a person approves.
    match:
      metric: ["IdleGroup"]
    actions:
      - action: scale_in
        target: {auto_scaling_group: "{label:asg}"}
        params: {by: 1}
"""


@dataclass
class Stack:
    gateway: StackProcess
    keys: dict[str, dict[str, str]]

    def post_alert(self, who: str, group: str) -> None:
        alert = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "IdleGroup", "instance": group, "asg": group},
                    "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                    "fingerprint": f"idle-{group}",
                }
            ],
        }
        posted = httpx.post(
            f"{self.gateway.url}/v1/alerts/alertmanager",
            json=alert,
            headers=self.keys[who],
            timeout=20,
        )
        assert posted.status_code == 202, posted.text

    def approval_for(self, group: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = httpx.get(
                f"{self.gateway.url}/remediation/approvals", headers=self.keys["ben"], timeout=20
            ).json()
            mine = [a for a in listed if a["request"]["target"].get("group") == group]
            if mine:
                found: dict[str, Any] = mine[0]
                return found
            time.sleep(0.3)
        raise AssertionError(f"no approval was asked for {group}")

    def approve(self, who: str, approval_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}/remediation/approvals/{approval_id}/approve",
            json={"comment": "looks fine"},
            headers=self.keys[who],
            timeout=20,
        )


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("alert-sender")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    env = stack_env(module_redis, {"SCOPS_DRY_RUN": "false", "SCOPS_RULES_PATH": str(rules)})
    processes = [service("remediator", env, tmp), service("gateway", env, tmp), worker(env, tmp)]
    keys = {
        who: {"X-API-Key": asyncio.run(create_key(module_redis, f"{who}-key", role, who))}
        for who, role in (("olga", Role.OPERATOR), ("ben", Role.OPERATOR), ("ci", Role.INGEST))
    }
    # olga's own ingest key, made for a script of hers: still olga
    keys["olga-script"] = {
        "X-API-Key": asyncio.run(create_key(module_redis, "olga-script", Role.INGEST, "olga"))
    }
    try:
        for process in processes:
            process.start()
        for process in processes[:2]:
            process.wait_ready(60)
        yield Stack(processes[1], keys)
    finally:
        for process in processes:
            process.stop()


@pytest.mark.parametrize("key", ["olga", "olga-script"])
def test_who_sent_the_alert_cannot_approve_the_action_it_asks_for(stack: Stack, key: str) -> None:
    group = f"web-asg-{key}"
    stack.post_alert(key, group)
    approval = stack.approval_for(group)
    assert approval["request"]["requested_by"] == "person:olga"
    own = stack.approve("olga", approval["id"])
    assert own.status_code == 409, own.text
    assert "asked for this action and cannot also approve it" in own.json()["detail"]
    assert own.json()["title"] == "Another person must approve"  # not decided: still pending
    other = stack.approve("ben", approval["id"])
    assert other.status_code == 202, other.text
    assert other.json()["complete"] and other.json()["approval"]["state"] == "approved"


def test_an_alert_from_a_machine_key_is_approved_by_any_operator(stack: Stack) -> None:
    stack.post_alert("ci", "web-asg-ci")
    approval = stack.approval_for("web-asg-ci")
    assert approval["request"]["requested_by"] == "person:ci"
    approved = stack.approve("olga", approval["id"])
    assert approved.status_code == 202 and approved.json()["complete"], approved.text
