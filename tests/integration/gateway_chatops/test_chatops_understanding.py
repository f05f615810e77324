"""Questions asked the way on-call engineers ask them, through the real gateway (the ChatOps
route and the Slack command) against real services: approvals, the safety switches, rules,
summaries (from the history service), the noisiest resources, one anomaly explained, the
admin switches with their roles; unsure readings asked back, actions from free words only
proposed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target
from services.remediator.stores.approvals import ApprovalStore
from shared.events import Severity
from tests.integration.gateway_chatops.conftest import (
    OPERATOR_SLACK,
    VIEWER_SLACK,
    Stack,
    slash,
)
from tests.integration.gateway_chatops.seeds import pending_approval
from tests.integration.gateway_chatops.test_chatops_api import _execute_requests
from tests.support.waiting import wait_for


def slack_answer(stack: Stack, text: str, user: str, team: str = "T0TEAM") -> dict[str, Any]:
    """The answer to ``/cloudops <text>``: inline, or posted to the response_url when late."""
    name = uuid.uuid4().hex[:8]
    reply = stack.slack_post("/slack/commands", slash(text, user, stack.response_url(name), team))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    if body["text"].startswith("Working on `"):
        (late,) = stack.posted_to(name)
        body = late.body
    return body


def requested_approval(stack: Stack, group: str, person: str) -> str:
    """A pending approval of a request ``person`` made (as the remediator keeps it)."""
    approval_id = uuid.uuid4()
    request = ActionRequest(
        subject_id=approval_id,
        incident=Incident(
            anomaly_id=uuid.uuid4(),
            correlation_id="chatops-test",
            resource_id=group,
            metric="manual",
            severity=Severity.LOW,
            explanation="manual request",
        ),
        action="scale_in",
        params={"by": 1},
        target=Target.for_group(group),
        reason="asked in ChatOps",
        risk=Risk.HIGH,
        automatic=False,
        approval_id=approval_id.hex,
        requested_by=person,
    )
    store = ApprovalStore(stack.redis, ttl_s=600)
    return store.create(request, required=1, why="high risk", approval_id=approval_id.hex).id


def remediator(stack: Stack, path: str) -> Any:
    reply = httpx.get(f"{stack.url('remediator')}{path}", timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_pending_approvals_asked_in_several_ways(stack: Stack) -> None:
    approval_id = pending_approval(stack.redis, "pool-q")
    for question in ("show pending approvals", "anything waiting for a human to approve?"):
        answer = stack.ask(question)
        assert answer["outcome"] == "answered", answer
        assert answer["intent"]["intent"] == "pending_approvals"
        assert approval_id in answer["data"]["approval_ids"]
        assert f"• `{approval_id[:8]}` `scale_in` on pool-q (0 of 1 approvals" in answer["text"]
    mine = stack.ask("my pending approvals", "operator")
    assert approval_id not in mine["data"]["approval_ids"]  # asked for by a rule, not olga
    olgas = requested_approval(stack, "pool-r", "person:olga")
    mine = stack.ask("approvals i asked for", "operator")
    assert mine["intent"]["entities"]["mine"] is True
    assert mine["data"]["approval_ids"] == [olgas]
    assert "\n*1 approval you asked for:*\n" in mine["text"]
    assert olgas not in stack.ask("my pending approvals", "viewer")["data"]["approval_ids"]


def test_breaker_and_dry_run_state_from_the_remediator(stack: Stack) -> None:
    answer = stack.ask("is the circuit breaker open?")
    assert answer["understood_by"] == "parser" and answer["intent"]["intent"] == "safety_state"
    lines = answer["text"].splitlines()
    assert lines[0] == "*Safety state*"
    assert lines[1] == "• circuit breaker closed: automatic actions may run"
    assert lines[2] == "• dry-run *on*: actions are recorded, nothing is changed"
    assert answer["data"] == {"dry_run": True, "breaker_open": False}
    loose = stack.ask("are we running in dry-run mode or for real")
    assert loose["intent"]["intent"] == "safety_state" and loose["understood_by"] == "classifier"


def test_rules_in_force_and_in_shadow_as_the_remediator_lists_them(stack: Stack) -> None:
    document = remediator(stack, "/rules")
    names = [r["name"] for r in document["rules"]]
    shadow = [r["name"] for r in document["rules"] if r["effective_mode"] == "shadow"]
    answer = stack.ask("which rules are in shadow")
    assert answer["data"] == {"rules": names, "shadow": shadow}
    assert answer["text"].startswith(f"*{len(names)} rules in force*")
    one = stack.ask("show me the cpu-critcal rule")
    assert one["intent"]["entities"]["rule"] == "cpu-critical"  # a typo of a known rule
    assert one["text"].splitlines()[1].startswith("• `cpu-critical` — *")


def test_what_happened_overnight_counts_incidents_from_the_history_service(stack: Stack) -> None:
    def history_has_them() -> bool:
        reply = httpx.get(f"{stack.url('history')}/incidents", params={"limit": 50}, timeout=5)
        return reply.status_code == 200 and len(reply.json()["items"]) >= 4

    wait_for(stack.processes["history"], history_has_them, 30, "the seeded incidents")
    answer = stack.ask("what happened overnight")
    assert answer["understood_by"] == "parser" and answer["data"]["from"] == "history"
    lines = answer["text"].splitlines()
    assert lines[0] == "*Summary overnight (the last 12 hours)*"
    assert lines[1].startswith(f"• {answer['data']['anomalies']} incidents (")
    assert answer["data"]["anomalies"] >= 4
    today = stack.ask("how many actions today?")
    assert (today["understood_by"], today["intent"]["intent"]) == ("classifier", "summary")
    assert today["intent"]["entities"]["window_s"] == 86400
    assert today["text"].startswith("(understood as `summary of the last 1d`, ")


def test_noisiest_resources_and_metrics(stack: Stack) -> None:
    answer = stack.ask("top 3 noisiest in the last day")
    assert answer["data"]["resources"][0] == "web-1"  # two anomalies seeded on web-1
    assert "Resources: web-1 (2)" in answer["text"]
    loose = stack.ask("which hosts alert the most?")
    assert loose["intent"]["intent"] == "noisiest" and loose["data"]["resources"][0] == "web-1"


def test_one_anomaly_explained_with_its_band_and_what_was_decided(stack: Stack) -> None:
    answer = stack.ask("explain the latest anomaly on db-1")
    assert answer["outcome"] == "answered"
    lines = answer["text"].splitlines()
    assert lines[0].startswith("*Anomaly `") and "`HighLoad`" in lines[1]
    assert "Detectors: alertmanager (an alert from Alertmanager)" in answer["text"]
    assert answer["text"].endswith("Decided: nothing recorded by the remediator for this anomaly.")
    by_id = stack.ask(f"explain anomaly {answer['data']['anomaly_id'][:8]}")
    assert by_id["data"]["anomaly_id"] == answer["data"]["anomaly_id"]


def test_a_near_miss_name_is_answered_as_the_known_one_and_said(stack: Stack) -> None:
    answer = stack.ask("what's wrong with wbe-1?")
    first, second = answer["text"].split("\n", 1)
    assert (
        first == "(understood as `what's wrong with web-1`) I know no `wbe-1`: did you mean web-1?"
    )
    assert second.startswith("*web-1* has 1 open anomaly")


def test_unsure_asks_back_with_the_likeliest_readings(stack: Stack) -> None:
    answer = stack.ask("whatever web-1 needs, do it")
    assert (answer["outcome"], answer["intent"]) == ("clarify", None)
    assert answer["text"].startswith("I am not sure what you mean. Did you mean one of these?")
    assert 1 <= len(answer["data"]["options"]) <= 3
    slack = slack_answer(stack, "whatever web-1 needs, do it", VIEWER_SLACK)
    assert slack["response_type"] == "ephemeral"
    assert slack["text"].startswith("I am not sure what you mean.")


def test_an_action_from_free_words_is_only_proposed_until_confirmed(stack: Stack) -> None:
    queued_before = _execute_requests(stack)
    answer = stack.ask("could you kick gunicorn on web-1, it's stuck", "operator")
    assert (answer["outcome"], answer["understood_by"]) == ("confirm", "classifier")
    assert answer["data"]["command"] == "restart gunicorn on web-1"
    assert answer["text"].endswith("Nothing was done: to do it, send exactly that.")
    typo = slack_answer(stack, "restart nginx on wbe-1", OPERATOR_SLACK)
    assert typo["response_type"] == "ephemeral"
    assert typo["text"].startswith("I know no `wbe-1`: did you mean web-1? I understood as typed")
    assert _execute_requests(stack) == queued_before
    done = stack.ask("yes", "operator")  # the proposal, confirmed by the one it was made to
    assert done["outcome"] == "accepted", done
    assert done["text"].startswith("(confirmed `restart gunicorn on web-1`)\nqueued: ")
    assert _execute_requests(stack) == queued_before + 1
    again = stack.ask("yes", "operator")
    assert again["outcome"] == "not_understood"
    assert again["text"].startswith("There is nothing to confirm")
    slack_yes = slack_answer(stack, "yes", OPERATOR_SLACK)
    assert slack_yes["text"].startswith("(confirmed `restart nginx on web-1`)")
    assert _execute_requests(stack) == queued_before + 2
    sent_back = stack.ask(answer["data"]["command"], "operator")  # the exact command runs too
    assert sent_back["outcome"] == "accepted"
    assert _execute_requests(stack) == queued_before + 3


def test_the_same_member_id_in_another_workspace_is_somebody_else(stack: Stack) -> None:
    """Two allowed workspaces can each have a U0OPERATOR: neither confirms the other's
    proposal nor reads their history."""
    queued_before = _execute_requests(stack)
    proposed = slack_answer(stack, "restart nginx on wbe-1", OPERATOR_SLACK)
    assert proposed["text"].startswith("I know no `wbe-1`: did you mean web-1?")
    elsewhere = slack_answer(stack, "yes", OPERATOR_SLACK, team="T0TWO")
    assert elsewhere["text"].startswith("There is nothing to confirm")
    assert _execute_requests(stack) == queued_before
    history = "scops:{chatops}:history:slack:%s:" + OPERATOR_SLACK
    theirs = [json.loads(t)["query"] for t in stack.redis.lrange(history % "T0TWO", 0, -1)]
    assert theirs == ["yes"]
    mine = slack_answer(stack, "yes", OPERATOR_SLACK)  # still pending for the one asked
    assert mine["text"].startswith("(confirmed `restart nginx on web-1`)")
    assert _execute_requests(stack) == queued_before + 1


def test_admin_switches_with_the_apis_roles(stack: Stack) -> None:
    refused = stack.ask("reset the breaker", "operator")
    assert refused["outcome"] == "refused"
    assert refused["text"] == (
        "You are an operator: `reset the breaker` needs the admin role. Nothing was done."
    )
    done = stack.ask("reset the breaker", "admin")
    assert done["outcome"] == "accepted"
    assert done["text"] == "The circuit breaker was already closed; nothing changed."
    loose = stack.ask("please reload the remediation rules file", "admin")
    assert loose["outcome"] == "confirm" and loose["data"]["command"] == "reload rules"
    log = remediator(stack, "/remediation/admin-log?count=5")
    assert log[0]["kind"] == "breaker_reset" and log[0]["by"].startswith("ada (key ")
    window = stack.ask("maintenance on web-9 for 1h because kernel upgrade", "operator")
    assert window["outcome"] == "accepted", window
    listed = remediator(stack, "/remediation/maintenance")
    mine = [w for w in listed if w["id"] == window["data"]["window_id"]]
    assert mine and mine[0]["target_pattern"] == "web-9" and mine[0]["reason"] == "kernel upgrade"


def test_slack_users_ask_the_same_questions(stack: Stack) -> None:
    answer = slack_answer(stack, "is dry run on?", VIEWER_SLACK)
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("*Safety state*")
    turns = [
        json.loads(t)
        for t in stack.redis.lrange(f"scops:{{chatops}}:history:slack:T0TEAM:{VIEWER_SLACK}", 0, 0)
    ]
    assert turns[0]["intent"]["intent"] == "safety_state"
