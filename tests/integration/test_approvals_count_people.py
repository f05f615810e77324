"""Two approvals need two people: through the gateway, with its Slack buttons and API keys, on
a real remediator. A person is their Slack team and user id or their keys' owner, and
``SCOPS_PEOPLE`` says which of those are one person; display names, several keys and a header
sent by the caller change nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis

from scops.keys import create_key
from services.gateway.api_keys import Role
from services.gateway.slack.signature import sign
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target
from services.remediator.stores.approvals import ApprovalStore
from shared.events import Severity
from tests.support.processes import StackProcess, service, stack_env
from tests.support.slack_clicks import click_approval
from tests.support.slack_standin import SlackStandIn

SECRET = "slack-secret-for-approval-tests"
TOKEN = "internal-token-for-approval-tests"
TEAM = "T0TEAM"
ANA_SLACK, BEN_SLACK = "U0ANA", "U0BEN"


@dataclass
class Stack:
    gateway: StackProcess
    remediator: StackProcess
    redis: redis.Redis
    redis_url: str
    slack: SlackStandIn

    def key(self, name: str, owner: str | None = None) -> dict[str, str]:
        token = asyncio.run(create_key(self.redis_url, name, Role.OPERATOR, owner))
        return {"X-API-Key": token}

    def approve_with_key(
        self, approval_id: str, key: dict[str, str], **headers: str
    ) -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}/remediation/approvals/{approval_id}/approve",
            json={"comment": "ok", "by": "someone else"},
            headers={**key, **headers},
            timeout=20,
        )

    def click_approve(
        self, approval_id: str, user_id: str, display: str, *, enterprise: str | None = None
    ) -> dict[str, Any]:
        """Slack's Approve button, signed as Slack signs it; the message Slack is then sent."""
        return click_approval(
            self.gateway.url,
            self.slack,
            SECRET,
            decision="approve",
            approval_id=approval_id,
            user_id=user_id,
            display=display,
            team=TEAM,
            resource_id="web-asg",
            enterprise=enterprise,
        )

    def slash_approve(self, approval_id: str, user_id: str, *, team: str, enterprise: str) -> str:
        """``/cloudops approve <id>`` typed in workspace ``team`` of Slack org ``enterprise``;
        the answer's text (inline, or as sent to the response URL)."""
        name = uuid.uuid4().hex[:8]
        form = {
            "team_id": team,
            "enterprise_id": enterprise,
            "channel_id": "C0OPS",
            "user_id": user_id,
            "user_name": "ben",
            "command": "/cloudops",
            "text": f"approve {approval_id}",
            "response_url": f"http://127.0.0.1:{self.slack.port}/services/responses/{name}",
            "trigger_id": uuid.uuid4().hex,
        }
        body = urlencode(form).encode()
        stamp = str(int(time.time()))
        reply = httpx.post(
            f"{self.gateway.url}/slack/commands",
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign(SECRET, stamp, body),
            },
            timeout=20,
        )
        assert reply.status_code == 200, reply.text
        texts = [json.dumps(reply.json())]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "approv" not in texts[-1].lower():
            texts += [json.dumps(r.body) for r in self.slack.received if r.path.endswith(name)]
            time.sleep(0.05)
        return texts[-1]

    def approval(self, approval_id: str) -> dict[str, Any]:
        reply = httpx.get(f"{self.remediator.url}/remediation/approvals/{approval_id}")
        data: dict[str, Any] = reply.json()
        return data

    def two_person_approval(self) -> str:
        """A high-risk scale-in that needs two people, as the workflow leaves it."""
        approval = uuid.uuid4()
        request = ActionRequest(
            subject_id=approval,
            incident=Incident(
                anomaly_id=uuid.uuid4(),
                correlation_id="approval-test",
                resource_id="web-asg",
                metric="cpu_utilization",
                severity=Severity.LOW,
            ),
            action="scale_in",
            params={"by": 1},
            target=Target.for_group("web-asg"),
            reason="rule idle: the group is idle",
            rule="idle",
            risk=Risk.HIGH,
            approval_id=approval.hex,
        )
        store = ApprovalStore(self.redis, ttl_s=600)
        return store.create(request, required=2, why="production", approval_id=approval.hex).id


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("approval-logs")
    slack = SlackStandIn().start()
    env = stack_env(
        module_redis,
        {
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_SLACK_SIGNING_SECRET": SECRET,
            "SCOPS_SLACK_USER_ROLES": json.dumps({ANA_SLACK: "operator", BEN_SLACK: "operator"}),
            "SCOPS_SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{slack.port}/services/",
            # ana's Slack account and her keys are one person; ben's Slack account is not
            # mapped (it is a person by its own ids).
            "SCOPS_PEOPLE": json.dumps({"ana": [f"slack:{TEAM}:{ANA_SLACK}", "owner:ana-ci"]}),
        },
    )
    remediator = service("remediator", env, logs).start()
    gateway = service("gateway", env, logs).start()
    client = redis.Redis.from_url(module_redis)
    try:
        remediator.wait_ready(60)
        gateway.wait_ready(60)
        yield Stack(gateway, remediator, client, module_redis, slack)
    finally:
        gateway.stop()
        remediator.stop()
        slack.stop()
        client.close()


def _refused_and_pending(reply_text: str, stack: Stack, approval_id: str) -> None:
    assert "has already approved" in reply_text, reply_text
    approval = stack.approval(approval_id)
    assert approval["state"] == "pending"
    assert len(approval["approvers"]) == 1


def test_one_slack_user_renamed_between_clicks_approves_once(stack: Stack) -> None:
    approval_id = stack.two_person_approval()
    first = stack.click_approve(approval_id, BEN_SLACK, "ben")
    assert "1 of 2 approvals" in json.dumps(first)
    second = stack.click_approve(approval_id, BEN_SLACK, "benjamin-renamed")
    _refused_and_pending(second["text"], stack, approval_id)
    assert stack.approval(approval_id)["people"] == [f"slack:{TEAM}:{BEN_SLACK}"]


def test_one_person_through_slack_and_their_key_approves_once(stack: Stack) -> None:
    approval_id = stack.two_person_approval()
    stack.click_approve(approval_id, ANA_SLACK, "ana")
    reply = stack.approve_with_key(approval_id, stack.key("ana-laptop", owner="ana"))
    assert reply.status_code == 409, reply.text
    _refused_and_pending(reply.json()["detail"], stack, approval_id)


def test_one_slack_user_in_two_workspaces_of_one_org_approves_once(stack: Stack) -> None:
    """On Enterprise Grid a user keeps one id in every workspace of the org: a button in one
    workspace and a command typed in another are still one person."""
    approval_id = stack.two_person_approval()
    first = stack.click_approve(approval_id, BEN_SLACK, "ben", enterprise="E0ORG")
    assert "1 of 2 approvals" in json.dumps(first)
    second = stack.slash_approve(approval_id, BEN_SLACK, team="T0OTHER", enterprise="E0ORG")
    _refused_and_pending(second, stack, approval_id)


def test_two_keys_of_one_owner_approve_once_whatever_header_they_send(stack: Stack) -> None:
    approval_id = stack.two_person_approval()
    first = stack.approve_with_key(approval_id, stack.key("ana-laptop", owner="ana"))
    assert first.status_code == 202, first.text
    # A key created without --owner belongs to its name; SCOPS_PEOPLE makes it ana's.
    second = stack.approve_with_key(
        approval_id, stack.key("ana-ci"), **{"X-Actor-Person": "person:ben"}
    )
    assert second.status_code == 409, second.text
    _refused_and_pending(second.json()["detail"], stack, approval_id)
    assert stack.approval(approval_id)["people"] == ["person:ana"]


def test_two_people_approve(stack: Stack) -> None:
    approval_id = stack.two_person_approval()
    first = stack.approve_with_key(approval_id, stack.key("ana-laptop", owner="ana"))
    assert first.json()["complete"] is False
    message = stack.click_approve(approval_id, BEN_SLACK, "ben")
    assert "approved by ana-laptop (key " in json.dumps(message)
    approval = stack.approval(approval_id)
    assert approval["state"] == "approved"
    assert approval["people"] == ["person:ana", f"slack:{TEAM}:{BEN_SLACK}"]
    assert approval["decided_by"].startswith("ana-laptop (key ")
    assert approval["decided_by"].endswith(f"ben (slack {BEN_SLACK})")


def test_the_remediator_decides_nothing_without_the_gateways_person(stack: Stack) -> None:
    approval_id = stack.two_person_approval()
    reply = httpx.post(
        f"{stack.remediator.url}/remediation/approvals/{approval_id}/approve",
        json={"by": "ana"},
        headers={"X-Internal-Token": TOKEN},
    )
    # A required header missing: refused naming it, as the document says.
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == ["X-Actor-Person"]
    assert stack.approval(approval_id)["approvers"] == []


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_needs_no_body(stack: Stack, decision: str) -> None:
    """``curl -X POST .../approve -H "X-API-Key: ..."``: every field of the body is optional
    (who decides is the key), so a request without one decides, in the key's name."""
    approval_id = stack.two_person_approval()
    reply = httpx.post(
        f"{stack.gateway.url}/remediation/approvals/{approval_id}/{decision}",
        headers=stack.key("cleo", owner="cleo"),
        timeout=20,
    )
    assert reply.status_code == (202 if decision == "approve" else 200), reply.text
    approval = stack.approval(approval_id)
    assert approval["state"] == ("pending" if decision == "approve" else "rejected")
    [vote] = approval["votes"]
    assert vote["by"].startswith("cleo (key ") and vote["person"] == "person:cleo", vote
