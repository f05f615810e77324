"""The history of an approval needing two people names each of them, when they approved and
through which channel (an API key, a Slack button, ChatOps), and who rejected: in the
remediator's audit log, in ChatOps' answer about the resource and in the notifier's Slack
message of the action that ran. Real gateway, remediator, Celery worker and notifier on a real
Redis, with Slack stood in by a real HTTP server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis

from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target
from services.remediator.stores.approvals import ApprovalStore
from shared.events import Severity
from tests.support.processes import StackProcess, api_key, service, stack_env, worker
from tests.support.slack_clicks import click_approval
from tests.support.slack_standin import SlackStandIn

SECRET = "slack-secret-for-approval-history"
TOKEN = "internal-token-for-approval-history"
TEAM = "T0TEAM"
BEN_SLACK = "U0BEN"


def wait_for(what: str, found: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s")


@dataclass
class Stack:
    gateway: StackProcess
    redis: redis.Redis
    slack: SlackStandIn
    keys: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}

    def approve_with_key(self, approval_id: str, name: str) -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}/remediation/approvals/{approval_id}/approve",
            json={"comment": "graphs look fine"},
            # a caller's own channel header is not passed on: the gateway says the channel
            headers={**self.auth(name), "X-Actor-Channel": "slack"},
            timeout=20,
        )

    def ask(self, query: str, name: str) -> dict[str, Any]:
        reply = httpx.post(
            f"{self.gateway.url}/chatops/query",
            json={"query": query},
            headers=self.auth(name),
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    def click(self, decision: str, approval_id: str, user_id: str, display: str) -> str:
        """Slack's Approve or Reject button, signed as Slack signs it; what Slack is told."""
        told = click_approval(
            self.gateway.url,
            self.slack,
            SECRET,
            decision=decision,
            approval_id=approval_id,
            user_id=user_id,
            display=display,
            team=TEAM,
            resource_id="history-asg",
        )
        return json.dumps(told)

    def records(self, **query: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{self.gateway.url}/remediation/actions",
            params=query,
            headers=self.auth("olga"),
            timeout=20,
        )
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["items"]
        return items

    def two_person_approval(self, group: str) -> str:
        """A scale-out of ``group`` that needs two people, as the workflow leaves it."""
        approval = uuid.uuid4()
        request = ActionRequest(
            subject_id=approval,
            incident=Incident(
                anomaly_id=uuid.uuid4(),
                correlation_id="approval-history",
                resource_id=group,
                metric="cpu_utilization",
                severity=Severity.HIGH,  # what the rule acts on
            ),
            action="scale_out",  # what the rule proposes: it runs under the rules in force
            params={"by": 1},
            target=Target.for_group(group),
            reason="rule cpu-high-sustained: the group is busy",
            rule="cpu-high-sustained",  # a rule of the stack's rules file, still in force
            risk=Risk.HIGH,
            approval_id=approval.hex,
        )
        store = ApprovalStore(self.redis, ttl_s=600)
        return store.create(request, required=2, why="production", approval_id=approval.hex).id


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("approval-history-logs")
    slack = SlackStandIn().start()
    env = stack_env(
        module_redis,
        {
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_SLACK_SIGNING_SECRET": SECRET,
            "SCOPS_SLACK_USER_ROLES": json.dumps({BEN_SLACK: "operator"}),
            "SCOPS_SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{slack.port}/services/",
            "SCOPS_SLACK_WEBHOOK_URL": slack.url,
            "SCOPS_GROUP_WAIT_S": "0.5",
        },
    )
    processes = [
        service("remediator", env, logs),
        service("gateway", env, logs),
        service("notifier", env, logs),
        worker(env, logs),
    ]
    client = redis.Redis.from_url(module_redis)
    try:
        for process in processes:
            process.start()
        for process in processes[:3]:
            process.wait_ready(90)
        keys = {name: api_key(module_redis, "operator", name) for name in ("ana-laptop", "olga")}
        yield Stack(processes[1], client, slack, keys)
    finally:
        for process in processes:
            process.stop()
        slack.stop()
        client.close()


def _at(vote: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(vote["at"])


def test_both_approvers_their_times_and_channels_are_in_the_history(stack: Stack) -> None:
    approval_id = stack.two_person_approval("history-asg")
    before = datetime.now().astimezone()
    first = stack.approve_with_key(approval_id, "ana-laptop")
    assert first.status_code == 202 and first.json()["complete"] is False, first.text
    time.sleep(1.1)  # the two approvals a second apart at least
    told = stack.click("approve", approval_id, BEN_SLACK, "ben")
    assert "approved by" in told, told
    after = datetime.now().astimezone()

    def ran() -> list[dict[str, Any]]:
        records = stack.records(resource_id="history-asg")
        return [r for r in records if r["status"] in ("dry_run", "succeeded")]

    (done,) = wait_for("the approved action", ran)
    (approved,) = [r for r in stack.records(resource_id="history-asg") if r["status"] == "approved"]
    for record in (approved, done):
        votes = record["votes"]
        assert [(v["decision"], v["via"]) for v in votes] == [
            ("approved", "api_key"),
            ("approved", "slack"),
        ], votes
        assert votes[0]["by"].startswith("ana-laptop (key ")
        assert votes[1]["by"] == f"ben (slack {BEN_SLACK})"
        assert before <= _at(votes[0]) < _at(votes[1]) <= after
        assert (_at(votes[1]) - _at(votes[0])).total_seconds() >= 1.0
    assert "ana-laptop (key " in approved["reason"] and "via API key" in approved["reason"]
    assert f"ben (slack {BEN_SLACK}) via Slack" in approved["reason"]

    answer = stack.ask("what happened to history-asg", "olga")["text"]
    assert "ana-laptop (key " in answer and "via API key" in answer, answer
    assert f"ben (slack {BEN_SLACK}) via Slack" in answer, answer

    def result_message() -> list[str]:
        sent = [json.dumps(r.body) for r in stack.slack.received if "/services/T000/" in r.path]
        return [s for s in sent if "history-asg" in s and "Dry run" in s]

    (message,) = wait_for("the Slack message of the action", result_message)
    assert "ana-laptop (key " in message and "via API key" in message, message
    assert f"ben (slack {BEN_SLACK}) via Slack" in message, message


def test_an_approval_then_a_rejection_both_stay_in_the_history(stack: Stack) -> None:
    approval_id = stack.two_person_approval("rejected-asg")
    approved = stack.ask(f"approve {approval_id[:8]}", "olga")
    assert approved["outcome"] == "accepted", approved
    told = stack.click("reject", approval_id, BEN_SLACK, "ben")
    assert "Rejected" in told, told

    def rejected() -> list[dict[str, Any]]:
        records = stack.records(resource_id="rejected-asg")
        return [r for r in records if r["status"] == "rejected"]

    (record,) = wait_for("the rejection", rejected)
    assert [(v["decision"], v["via"], v["by"][:4]) for v in record["votes"]] == [
        ("approved", "chatops", "olga"),
        ("rejected", "slack", "ben "),
    ], record["votes"]
    assert record["decided_by"] == f"ben (slack {BEN_SLACK})"
    assert "olga" in record["reason"] and "via ChatOps" in record["reason"], record["reason"]
