"""The ChatOps engine against stand-in backends (an httpx MockTransport) and an in-memory
anomaly source: roles, refusals as the remediator words them, approvals by prefix, missing
APIs, unreachable services, and what the LLM may and may not do."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.gateway.anomaly_index import Query
from services.gateway.api_keys import Role
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.replies import Asker, Outcome
from services.gateway.proxy import Backends

VIEWER = Asker("key:v", "val (key v)", Role.VIEWER)
OPERATOR = Asker("key:o", "ola (key o)", Role.OPERATOR)
APPROVAL_A = "4f1c0000" + "a" * 24
APPROVAL_B = "4f1c0000" + "b" * 24  # the same first 8 characters
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC).timestamp()


@dataclass
class Services:
    """Answers by (method, path); records every request."""

    answers: dict[tuple[str, str], httpx.Response | Exception] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.answers.get((request.method, request.url.path))
        if isinstance(answer, Exception):
            raise answer
        return answer or httpx.Response(404, json={"detail": "Not Found"})

    def body(self, index: int = -1) -> Any:
        return json.loads(self.seen[index].content)


class Anomalies:
    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items = items or []
        self.queries: list[Query] = []

    async def query(self, q: Query) -> tuple[list[dict[str, Any]], str | None]:
        self.queries.append(q)
        return [i for i in self.items if q.resource_id in (None, i["resource_id"])], None


class FakeLlm:
    def __init__(self, intent: ChatIntent | None) -> None:
        self.intent = intent
        self.asked: list[str] = []

    async def interpret(self, text: str) -> ChatIntent | None:
        self.asked.append(text)
        return self.intent


def engine(services: Services, llm: FakeLlm | None = None, may_act: bool = False) -> ChatEngine:
    client = httpx.AsyncClient(transport=httpx.MockTransport(services.handle))
    backends = Backends(
        client,
        {"detector": "http://det", "remediator": "http://rem", "notifier": "http://not"},
        "internal",
    )
    return ChatEngine(backends, Anomalies(), llm=llm, llm_may_act=may_act, clock=lambda: NOW)


async def test_a_viewer_is_refused_actions_and_nothing_is_called() -> None:
    services = Services()
    for text in ["restart nginx on web-1", "approve 4f1c", "silence web-1 for 2h"]:
        reply = await engine(services).reply(VIEWER, text, "c1")
        assert reply.answer.outcome is Outcome.REFUSED
        assert (
            "You are a viewer" in reply.answer.text
            and "needs the operator role" in reply.answer.text
        )
    assert services.seen == []


async def test_restart_goes_to_the_remediator_as_a_manual_request() -> None:
    services = Services()
    services.answers[("POST", "/remediation/execute")] = httpx.Response(
        202,
        json={
            "status": "queued",
            "anomaly_id": "9d0c",
            "action": "restart_service",
            "detail": "queued: restart_service on instances tagged Name=web-1",
        },
    )
    reply = await engine(services).reply(OPERATOR, "restart nginx on web-1", "c2")
    assert reply.answer.outcome is Outcome.ACCEPTED
    assert reply.answer.text.startswith(
        "queued: restart_service on instances tagged Name=web-1 (request `9d0c`)"
    )
    assert services.body() == {
        "action": "restart_service",
        "target": {"tags": {"Name": "web-1"}},
        "params": {"service": "nginx"},
        "reason": "asked in ChatOps: restart nginx on web-1",
        "by": "ola (key o)",
        "resource_id": "web-1",
        "dry_run": False,
    }
    request = services.seen[0]
    assert request.headers["x-internal-token"] == "internal"
    assert request.headers["x-correlation-id"] == "c2"


async def test_a_denied_target_is_refused_with_the_remediators_rule() -> None:
    services = Services()
    services.answers[("POST", "/remediation/execute")] = httpx.Response(
        403,
        json={
            "type": "https://smartcloudops.dev/problems/refused",
            "title": "Refused by a safety rule",
            "status": 403,
            "detail": "db-1 matches deny-list pattern 'db-*' (the refusal is recorded)",
            "blocked_by": "deny_list",
        },
    )
    reply = await engine(services).reply(OPERATOR, "restart postgres on db-1", "c")
    assert reply.answer.outcome is Outcome.REFUSED
    assert reply.answer.text == (
        "Refused by the remediator's `deny_list` rule: db-1 matches deny-list pattern 'db-*' "
        "(the refusal is recorded). Nothing was done."
    )
    assert reply.answer.data == {"blocked_by": "deny_list"}


def pending(approval_id: str, resource: str) -> dict[str, Any]:
    return {
        "id": approval_id,
        "state": "pending",
        "request": {"action": "scale_in", "incident": {"resource_id": resource}},
    }


async def test_approvals_by_the_start_of_their_id() -> None:
    services = Services()
    services.answers[("GET", "/remediation/approvals")] = httpx.Response(
        200, json=[pending(APPROVAL_A, "pool-a"), pending(APPROVAL_B, "pool-b")]
    )
    services.answers[("POST", f"/remediation/approvals/{APPROVAL_A}/approve")] = httpx.Response(
        202,
        json={
            "approval": {**pending(APPROVAL_A, "pool-a"), "state": "approved"},
            "complete": True,
            "detail": "approved by ola (key o): the action is queued",
        },
    )
    chat = engine(services)
    ambiguous = await chat.reply(OPERATOR, "approve 4f1c0000", "c")
    assert ambiguous.answer.outcome is Outcome.REFUSED
    assert "starts several pending approvals" in ambiguous.answer.text
    short = await chat.reply(OPERATOR, "approve 4f1c", "c")  # an alert's sender shapes ids
    assert short.answer.outcome is Outcome.REFUSED
    assert "too short to name an approval: give at least the 8 characters" in short.answer.text
    missing = await chat.reply(OPERATOR, "approve 42424242", "c")
    assert missing.answer.text.startswith(
        "No pending approval starts with `42424242`. Pending: `4f1c0000`"
    )
    done = await chat.reply(OPERATOR, "approve 4f1c0000a because checked", "c")
    assert done.answer.outcome is Outcome.ACCEPTED
    assert done.answer.text == (
        "`scale_in` on pool-a: approved by ola (key o): the action is queued."
    )
    assert services.body() == {"by": "ola (key o)", "comment": "checked"}


async def test_a_decided_approval_is_refused_as_the_remediator_says() -> None:
    services = Services()
    services.answers[("POST", f"/remediation/approvals/{APPROVAL_A}/reject")] = httpx.Response(
        409, json={"status": 409, "detail": "approval already approved"}
    )
    reply = await engine(services).reply(OPERATOR, f"reject {APPROVAL_A}", "c")
    assert reply.answer.outcome is Outcome.REFUSED
    assert reply.answer.text == (
        f"The remediator refused approval `{APPROVAL_A}`: approval already approved."
    )


async def test_silence_without_the_notifiers_api_says_so() -> None:
    services = Services()
    reply = await engine(services).reply(OPERATOR, "silence web-1 for 2h", "c")
    assert reply.answer.outcome is Outcome.UNAVAILABLE
    assert reply.answer.text == (
        "Silences are not available: the notifier has no silence API "
        "(POST /notifications/silences answered 404). Nothing was silenced."
    )


async def test_silence_with_the_notifiers_api() -> None:
    services = Services()
    services.answers[("POST", "/notifications/silences")] = httpx.Response(201, json={"id": "s1"})
    reply = await engine(services).reply(OPERATOR, "silence cpu on web-* for 2h", "c")
    assert reply.answer.outcome is Outcome.ACCEPTED
    assert reply.answer.text == (
        "Silenced notifications about cpu on web-* for 2 h (until 2026-11-26 20:00 UTC), "
        "silence `s1`. Approval requests still come through."
    )
    assert services.body() == {
        "matchers": {"resource": "web-*", "metric": "cpu"},
        "duration_s": 7200,
        "created_by": "ola (key o)",
        "comment": "from ChatOps",
    }


async def test_an_unreachable_service_is_named() -> None:
    services = Services()
    services.answers[("GET", "/remediation/actions")] = httpx.ConnectError("refused")
    reply = await engine(services).reply(VIEWER, "why was web-1 restarted", "c")
    assert reply.answer.outcome is Outcome.UNAVAILABLE
    assert reply.answer.text == (
        "I cannot answer that now: the remediator cannot be reached. Nothing was done."
    )
    assert services.seen[0].url.params["resource_id"] == "web-1"
    assert services.seen[0].url.params["action"] == "restart_service"


async def test_status_reports_each_service() -> None:
    services = Services()
    services.answers[("GET", "/anomaly/status")] = httpx.Response(200, json={"series_tracked": 4})
    services.answers[("GET", "/remediation/status")] = httpx.ReadTimeout("slow")
    services.answers[("GET", "/health")] = httpx.Response(200, json={"status": "ok"})
    reply = await engine(services).reply(VIEWER, "status", "c")
    assert reply.answer.text.splitlines() == [
        "*System status*",
        "• detector: up — 4 series tracked",
        "• remediator: *down* — the remediator did not answer in time",
        "• notifier: up",
        "• anomalies: none in the last hour",
    ]
    assert reply.answer.data == {"up": {"detector": True, "remediator": False, "notifier": True}}


async def test_an_action_the_llm_understood_is_only_proposed() -> None:
    services = Services()
    proposal = ChatIntent.of(
        IntentName.RUN_ACTION, action="restart_service", resource="web-1", service="nginx"
    )
    llm = FakeLlm(proposal)
    reply = await engine(services, llm).reply(OPERATOR, "bounce the nginx thing on web-1", "c")
    assert (reply.understood_by, reply.answer.outcome) == ("llm", Outcome.CONFIRM)
    assert reply.answer.data == {"command": "restart nginx on web-1"}
    assert services.seen == []
    parsed = await engine(services, llm).reply(OPERATOR, "status of web-1", "c")
    assert parsed.understood_by == "parser" and llm.asked == ["bounce the nginx thing on web-1"]


async def test_when_allowed_the_llms_action_takes_the_same_path_and_checks() -> None:
    services = Services()
    proposal = ChatIntent.of(
        IntentName.RUN_ACTION, action="restart_service", resource="web-1", service="nginx"
    )
    viewer = await engine(services, FakeLlm(proposal), may_act=True).reply(VIEWER, "bounce", "c")
    assert viewer.answer.outcome is Outcome.REFUSED and services.seen == []
    services.answers[("POST", "/remediation/execute")] = httpx.Response(
        202, json={"anomaly_id": "r1", "detail": "queued: restart_service"}
    )
    operator = await engine(services, FakeLlm(proposal), may_act=True).reply(
        OPERATOR, "bounce", "c"
    )
    assert operator.answer.outcome is Outcome.ACCEPTED
    assert operator.answer.text.startswith("(understood as `restart nginx on web-1`)\nqueued")
    assert services.body()["reason"] == "asked in ChatOps: bounce"


async def test_the_llm_not_understanding_is_not_understood() -> None:
    reply = await engine(Services(), FakeLlm(None)).reply(OPERATOR, "sing me a song", "c")
    assert reply.intent is None and reply.answer.outcome is Outcome.NOT_UNDERSTOOD


def test_quick_replies_need_no_io() -> None:
    chat = engine(Services())
    assert chat.quick_reply(VIEWER, "status") is None
    help_reply = chat.quick_reply(VIEWER, "help")
    assert help_reply is not None and help_reply.answer.outcome is Outcome.ANSWERED
    refusal = chat.quick_reply(VIEWER, "restart nginx on web-1")
    assert refusal is not None and refusal.answer.outcome is Outcome.REFUSED
    garbage = chat.quick_reply(VIEWER, "sing")
    assert garbage is not None and garbage.answer.outcome is Outcome.NOT_UNDERSTOOD
    with_llm = engine(Services(), FakeLlm(None))
    assert with_llm.quick_reply(VIEWER, "sing") is None
