"""ChatOps over the API on a real stack: every intent on seeded data, refusals as the
remediator words them, approvals, silences, per-user history, and the LLM fallback."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import jsonschema_rs

from shared.tasks import EXECUTE_REQUEST, REMEDIATION_QUEUE
from tests.integration.gateway_chatops.conftest import LLM_KEY, Stack, ago
from tests.integration.gateway_chatops.seeds import pending_approval, restart_records, seed_audit


def test_status_from_every_service_and_the_anomaly_index(stack: Stack) -> None:
    answer = stack.ask("status")
    assert (answer["intent"]["intent"], answer["outcome"]) == ("status", "answered")
    lines = answer["text"].splitlines()
    assert lines[0] == "*System status*"
    assert lines[1].startswith("• detector: up — ") and "series tracked" in lines[1]
    assert lines[2].startswith("• remediator: up — executor dry-run (dry-run on), ")
    assert "0 of 10 actions this hour, breaker closed" in lines[2]
    assert lines[3] == "• notifier: up"
    assert lines[4] == "• anomalies: 3 in the last hour, 2 still open (worst: critical)"
    assert answer["data"] == {"up": {"detector": True, "remediator": True, "notifier": True}}


def test_whats_wrong_with_a_resource_lists_open_and_resolved(stack: Stack) -> None:
    answer = stack.ask("what's wrong with web-1?")
    assert answer["intent"] == {
        "intent": "resource_health",
        "entities": {**answer["intent"]["entities"], "resource": "web-1"},
    }
    lines = answer["text"].splitlines()
    assert (
        lines[0] == "*web-1* has 1 open anomaly (worst: critical) and 1 resolved in the last day."
    )
    assert lines[1] == "*Open:*"
    assert lines[2].startswith("• *CRITICAL* `HighCPU` = 97.5 since ")
    assert "open for 10 min — HighCPU on web-1" in lines[2]
    assert lines[3] == "*Resolved:*"
    assert lines[4].startswith("• *MEDIUM* `DiskFull` = 97.5 since ")
    assert "resolved after 10 min" in lines[4]
    assert len(answer["data"]["open"]) == 1
    quiet = stack.ask("is web-3 ok")
    assert quiet["text"] == (
        "Nothing is wrong with web-3 that I know of: no anomalies in the last day."
    )


def test_a_resource_named_beyond_ascii_is_answered_as_the_api_documents(stack: Stack) -> None:
    """Resource ids may be any visible characters. The answer about one must be valid for the
    published schema as JSON Schema reads its patterns (ECMA-262: there ``\\w`` is ASCII only,
    unlike Python's), or a client validating answers refuses it."""
    answer = stack.ask("what's wrong with nœud-9?")
    assert answer["intent"]["entities"]["resource"] == "nœud-9"
    document = httpx.get(f"{stack.gateway.url}/openapi.json").json()
    schema = {"$ref": "#/components/schemas/ChatAnswer", "components": document["components"]}
    jsonschema_rs.validate(schema, answer)


def test_anomalies_in_time_ranges_in_words(stack: Stack) -> None:
    hour = stack.ask("anomalies in the last hour")
    lines = hour["text"].splitlines()
    assert lines[0] == "3 anomalies in the last hour (2 still open):"
    assert sorted(line.split("` on ")[1].split(" ")[0] for line in lines[1:]) == [
        "db-1",
        "web-1",
        "web-1",
    ]
    assert stack.ask("anomalies in the last 4 hours")["text"].splitlines()[0] == (
        "4 anomalies in the last 4 hours (3 still open):"
    )
    critical = stack.ask("critical anomalies in the past day")
    assert critical["text"].splitlines()[0] == (
        "2 critical or worse anomalies in the last day (2 still open):"
    )
    assert stack.ask("anomalies on web-2 in the last 30 minutes")["text"] == (
        "No anomalies on web-2 in the last 30 minutes."
    )


def test_anomalies_since_a_moment_start_there(stack: Stack) -> None:
    moment = ago(hours=2)
    said = f"{moment:%Y-%m-%d %H:%M}"
    answer = stack.ask(f"anomalies since {said}")
    assert answer["outcome"] == "answered"
    lines = answer["text"].splitlines()
    assert lines[0] == f"(since {moment:%A} {said} UTC)"
    assert lines[1].startswith("3 anomalies in the last 2 h")  # not the one 3 hours old
    assert answer["data"]["since"] == f"{said.replace(' ', 'T')}:00+00:00"
    later = ago(hours=-2)
    refused = stack.ask(f"anomalies since {later:%Y-%m-%d %H:%M}")
    assert refused["outcome"] == "refused" and refused["data"] == {"refused": "moment"}
    assert "which is still to come" in refused["text"]
    nonsense = stack.ask("what happened since 25:00")
    assert nonsense["outcome"] == "refused"
    assert nonsense["text"].startswith("I cannot read `25:00` as a time: say e.g. `since 9am`")


def test_why_was_it_restarted_reads_the_audit_log(stack: Stack) -> None:
    at = ago(minutes=20)
    seed_audit(stack.redis, restart_records("web-1", at - timedelta(hours=2)))
    seed_audit(stack.redis, restart_records("web-1", at))
    seed_audit(stack.redis, restart_records("web-7", at))
    answer = stack.ask("why was web-1 restarted?")
    lines = answer["text"].splitlines()
    stamp = at + timedelta(seconds=8)
    assert lines[0] == (
        f"Latest `restart_service` for *web-1*: *succeeded* at {stamp:%Y-%m-%d %H:%M} UTC "
        "because: rule cpu-critical: critical anomaly on cpu_utilization; app is active again "
        "(anomaly: cpu_utilization 97.5 far above its usual 20 to 50)"
    )
    assert lines[1] == "Earlier:"
    assert len(lines) == 3 and "tag:Name=web-1: *succeeded* (rule `cpu-critical`)" in lines[2]
    assert len(answer["data"]["records"]) == 2
    assert stack.ask("why was web-9 restarted")["text"] == (
        "The remediator's audit log has no `restart_service` for web-9."
    )


def test_restart_is_a_remediation_request_for_operators_only(stack: Stack) -> None:
    refused = stack.ask("restart nginx on web-1", "viewer")
    assert refused["outcome"] == "refused"
    assert refused["text"] == (
        "You are a viewer: `restart nginx on web-1` needs the operator role. Nothing was done."
    )
    queued_before = _execute_requests(stack)
    accepted = stack.ask("restart nginx on web-1 because workers are stuck", "operator")
    assert accepted["outcome"] == "accepted", accepted
    request_id = accepted["data"]["request_id"]
    assert accepted["text"].startswith(
        "queued: restart_service on instances tagged Name=web-1: dry run: nothing will be "
        f"changed (request `{request_id}`). Ask `what happened to web-1?`"
    )
    assert accepted["data"]["next"] == "dry_run"
    assert _execute_requests(stack) == queued_before + 1


def _execute_requests(stack: Stack) -> int:
    messages = [json.loads(m) for m in stack.redis.lrange(REMEDIATION_QUEUE, 0, -1)]
    return sum(1 for m in messages if m["headers"]["task"] == EXECUTE_REQUEST)


def test_restart_on_a_denied_target_is_refused_with_the_rule_name(stack: Stack) -> None:
    refused = stack.ask("restart postgres on db-1", "operator")
    assert refused["outcome"] == "refused"
    assert refused["text"] == (
        "Refused by the remediator's `deny_list` rule: db-1 matches deny-list pattern 'db-*' "
        "(the refusal is recorded). Nothing was done."
    )
    assert refused["data"] == {"blocked_by": "deny_list"}
    why = stack.ask("why was db-1 restarted?")
    assert why["text"].startswith("Latest `restart_service` for *db-1*: *blocked* at ")
    assert "db-1 matches deny-list pattern 'db-*' (manual request by olga (key " in why["text"]


def test_approve_and_reject_by_the_start_of_the_id(stack: Stack) -> None:
    first = pending_approval(stack.redis, "pool-a")
    second = pending_approval(stack.redis, "pool-b")
    viewer = stack.ask(f"approve {first[:8]}", "viewer")
    assert viewer["outcome"] == "refused" and "needs the operator role" in viewer["text"]
    approved = stack.ask(f"approve {first[:8]}", "operator")
    assert approved["outcome"] == "accepted", approved
    assert approved["text"].startswith("`scale_in` on pool-a: approved by olga (key ")
    assert approved["text"].endswith("): the action is queued.")
    again = stack.ask(f"approve {first}", "operator")
    assert again["outcome"] == "refused"
    assert again["text"].startswith(f"The remediator refused approval `{first}`: ")
    rejected = stack.ask(f"reject {second[:8]} because not during the sale", "operator")
    assert rejected["outcome"] == "accepted"
    assert rejected["text"].startswith("`scale_in` on pool-b: rejected by olga (key ")
    record = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{second}").json()
    assert record["state"] == "rejected" and record["decided_by"].startswith("olga (key ")
    unknown = stack.ask("approve 00ff00ff", "operator")
    assert unknown["text"].startswith("No pending approval starts with `00ff00ff`.")


def test_silence_through_the_notifier(stack: Stack) -> None:
    assert stack.ask("silence web-1 for 2h", "viewer")["outcome"] == "refused"
    answer = stack.ask("silence HighCPU on web-1 for 2h", "operator")
    assert answer["outcome"] == "accepted", answer
    assert answer["text"].startswith(
        "Silenced notifications about HighCPU on web-1 for 2 h (until "
    )
    silences = httpx.get(f"{stack.url('notifier')}/notifications/silences").json()
    (made,) = [s for s in silences if s["id"] == answer["data"]["silence_id"]]
    assert made["matchers"]["resource"] == "web-1"
    assert made["matchers"]["metric"] == "HighCPU"
    assert made["created_by"].startswith("olga (key ")


def test_history_is_per_user_and_cleared_by_clear(stack: Stack) -> None:
    for key in ("viewer", "viewer2"):
        httpx.post(
            f"{stack.gateway.url}/chatops/clear", headers={"X-API-Key": stack.keys[key]}
        ).raise_for_status()
    stack.ask("help", "viewer")
    stack.ask("what's wrong with web-1", "viewer")
    stack.ask("sing me a song", "viewer2")

    def history(key: str) -> dict[str, object]:
        reply = httpx.get(
            f"{stack.gateway.url}/chatops/history", headers={"X-API-Key": stack.keys[key]}
        )
        assert reply.status_code == 200
        data: dict[str, object] = reply.json()
        return data

    mine = history("viewer")
    turns = mine["turns"]
    assert isinstance(turns, list)
    assert [t["query"] for t in turns] == ["what's wrong with web-1", "help"]
    assert turns[0]["intent"]["intent"] == "resource_health"
    assert turns[0]["outcome"] == "answered" and turns[0]["channel"] == "api"
    theirs = history("viewer2")["turns"]
    assert isinstance(theirs, list)
    assert [(t["query"], t["outcome"]) for t in theirs] == [("sing me a song", "not_understood")]
    cleared = httpx.post(
        f"{stack.gateway.url}/chatops/clear", headers={"X-API-Key": stack.keys["viewer"]}
    ).json()
    assert cleared == {"user": mine["user"], "cleared": 2}
    assert history("viewer")["turns"] == []
    assert len(history("viewer2")["turns"]) == 1  # type: ignore[arg-type]
    assert httpx.get(f"{stack.gateway.url}/chatops/history").status_code == 401


def test_the_llm_maps_free_text_onto_the_same_intents(stack: Stack) -> None:
    # Words the built-in classifier is not sure of: only those go to the LLM.
    stack.llm.answer(
        "kindly perform the usual ritual upon web-1",
        {
            "intent": "run_action",
            "entities": {"action": "restart_service", "resource": "web-1", "service": "nginx"},
        },
    )
    stack.llm.answer("how do things look from up there", {"intent": "status"})
    stack.llm.answer(
        "the eagle has landed",
        {"intent": "run_action", "entities": {"action": "terminate", "resource": "web-1"}},
    )
    queued_before = _execute_requests(stack)
    proposal = stack.ask("kindly perform the usual ritual upon web-1", "operator")
    assert (proposal["understood_by"], proposal["outcome"]) == ("llm", "confirm")
    assert proposal["text"] == (
        "I understood by the LLM: `restart nginx on web-1`. Nothing was done: to do it, "
        "send exactly that."
    )
    assert _execute_requests(stack) == queued_before
    status = stack.ask("how do things look from up there")
    assert (status["understood_by"], status["outcome"]) == ("llm", "answered")
    assert status["text"].startswith("(understood as `status`)\n*System status*")
    invalid = stack.ask("the eagle has landed", "operator")
    assert invalid["intent"] is None and invalid["outcome"] in ("clarify", "not_understood")
    asked = stack.llm.asked[-1]
    assert asked.headers["authorization"] == f"Bearer {LLM_KEY}"
    assert asked.body["model"] == "standin-model"
    assert asked.body["messages"][0]["role"] == "system"
    assert "status" not in [a.user_text for a in stack.llm.asked]  # parsed, never sent
    assert LLM_KEY not in stack.gateway.log_text()
