"""The engine with the built-in classifier, against stand-in backends: new questions answered
from the services' documents, admin switches for admins only, and nothing acting unless it was
an exact command naming what the system knows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.gateway.acting import act_as
from services.gateway.api_keys import Role
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.extraction import Knowledge
from services.gateway.chatops.replies import Asker, Outcome
from services.gateway.chatops.understanding import Understanding
from services.gateway.proxy import Backends
from tests.unit.gateway_chatops.test_engine import NOW, Anomalies, Services

VIEWER = Asker("key:v", "val (key v)", Role.VIEWER)
OPERATOR = Asker("key:o", "ola (key o)", Role.OPERATOR)
ADMIN = Asker("key:a", "ada (key a)", Role.ADMIN)
KNOWN = Knowledge(resources=frozenset({"web-1", "web-2"}), rules=frozenset({"cpu-critical"}))


class FixedKnowledge:
    async def current(self, correlation_id: str) -> Knowledge:
        return KNOWN


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    return Understanding(IntentClassifier.train())


def make(
    services: Services, understanding: Understanding, items: list[Any] | None = None
) -> ChatEngine:
    client = httpx.AsyncClient(transport=httpx.MockTransport(services.handle))
    backends = Backends(
        client,
        {"detector": "http://d", "remediator": "http://r", "notifier": "http://n"},
        "internal",
    )
    return ChatEngine(
        backends,
        Anomalies(items),
        clock=lambda: NOW,
        understanding=understanding,
        knowledge=FixedKnowledge(),
    )


def approval(approval_id: str, requested_by: str | None) -> dict[str, Any]:
    return {
        "id": approval_id,
        "state": "pending",
        "required": 1,
        "approvers": [],
        "expires_at": datetime.fromtimestamp(NOW + 600, UTC).isoformat(),
        "why": "high risk",
        "request": {
            "action": "scale_in",
            "rule": "idle",
            "requested_by": requested_by,
            "incident": {"resource_id": "pool-a"},
        },
    }


async def test_pending_approvals_all_and_mine(understanding: Understanding) -> None:
    services = Services()
    services.answers[("GET", "/remediation/approvals")] = httpx.Response(
        200, json=[approval("4f1c" + "a" * 28, "person:ola"), approval("9e9e" + "b" * 28, None)]
    )
    chat = make(services, understanding)
    every = await chat.reply(VIEWER, "anything waiting for approval?", "c")
    assert every.answer.outcome is Outcome.ANSWERED and every.understood_by == "classifier"
    assert "*2 approvals pending:*" in every.answer.text
    assert "• `4f1c" in every.answer.text and "expires in 10 min" in every.answer.text
    act_as("person:ola", "chatops")
    mine = await chat.reply(OPERATOR, "my pending approvals", "c")
    assert mine.understood_by == "parser"
    assert mine.answer.text.startswith("*1 approval you asked for:*")
    assert mine.answer.data["approval_ids"] == ["4f1c" + "a" * 28]


async def test_breaker_and_dry_run_state(understanding: Understanding) -> None:
    services = Services()
    services.answers[("GET", "/remediation/status")] = httpx.Response(
        200,
        json={
            "dry_run": True,
            "safety": {
                "actions_this_hour": 3,
                "rate_limit_per_hour": 10,
                "breaker": {"open": True, "reason": "3 failures in 10 min"},
            },
            "maintenance_windows": [],
        },
    )
    reply = await make(services, understanding).reply(VIEWER, "is the circuit breaker open?", "c")
    lines = reply.answer.text.splitlines()
    assert lines[1].startswith("• circuit breaker *open*: 3 failures in 10 min")
    assert lines[2] == "• dry-run *on*: actions are recorded, nothing is changed"
    assert lines[3] == "• 3 of 10 actions used this hour"
    assert reply.answer.data == {"dry_run": True, "breaker_open": True}


async def test_an_action_read_by_the_classifier_is_proposed_never_run(
    understanding: Understanding,
) -> None:
    services = Services()
    reply = await make(services, understanding).reply(
        OPERATOR, "could you kick gunicorn on web-1, it's stuck", "c"
    )
    assert reply.answer.outcome is Outcome.CONFIRM and reply.understood_by == "classifier"
    assert reply.answer.data["command"] == "restart gunicorn on web-1"
    assert "Nothing was done: to do it, send exactly that." in reply.answer.text
    assert not [r for r in services.seen if r.method != "GET"]


async def test_an_exact_command_with_a_near_miss_is_proposed_with_the_known_name(
    understanding: Understanding,
) -> None:
    services = Services()
    reply = await make(services, understanding).reply(OPERATOR, "restart nginx on wbe-1", "c")
    assert reply.answer.outcome is Outcome.CONFIRM
    assert reply.answer.text.startswith("I know no `wbe-1`: did you mean web-1?")
    assert reply.answer.data["command"] == "restart nginx on web-1"
    assert services.seen == []


async def test_admin_switches_need_the_admin_role(understanding: Understanding) -> None:
    services = Services()
    services.answers[("POST", "/remediation/breaker/reset")] = httpx.Response(
        200, json={"was_open": True, "breaker": {"open": False}}
    )
    chat = make(services, understanding)
    refused = await chat.reply(OPERATOR, "reset the breaker", "c")
    assert refused.answer.outcome is Outcome.REFUSED
    assert "needs the admin role" in refused.answer.text and services.seen == []
    done = await chat.reply(ADMIN, "reset the breaker", "c")
    assert done.answer.outcome is Outcome.ACCEPTED
    assert done.answer.text == "Circuit breaker closed: automatic actions resume."
    assert services.body()["by"] == "ada (key a)"


async def test_unsure_asks_with_the_likeliest_readings(understanding: Understanding) -> None:
    reply = await make(Services(), understanding).reply(
        VIEWER, "kindly perform the usual ritual upon web-1", "c"
    )
    assert reply.answer.outcome is Outcome.CLARIFY and reply.intent is None
    assert reply.answer.text.startswith("I am not sure what you mean. Did you mean one of these?")
    assert 1 <= len(reply.answer.data["options"]) <= 3
    missing = await make(Services(), understanding).reply(OPERATOR, "please restart nginx", "c")
    assert missing.answer.outcome is Outcome.CLARIFY
    assert "tell me which resource" in missing.answer.text


async def test_one_anomaly_explained_with_its_band_detectors_and_decision(
    understanding: Understanding,
) -> None:
    anomaly_id = "6b1f2e3d-0000-4000-8000-000000000001"
    items = [
        {
            "event_id": anomaly_id,
            "resource_id": "web-1",
            "metric": "cpu_utilization",
            "severity": "critical",
            "value": 97.5,
            "expected_low": 20.0,
            "expected_high": 50.0,
            "score": 0.97,
            "model_version": "v1",
            "detectors": ["out_of_range", "hard_limit"],
            "explanation": "cpu_utilization 97.5 far above its usual 20 to 50",
            "observed_at": "2026-11-26T17:50:00+00:00",
        }
    ]
    services = Services()
    services.answers[("GET", "/remediation/actions")] = httpx.Response(
        200,
        json={
            "items": [
                {
                    "run_id": "r1",
                    "action": "restart_service",
                    "status": "succeeded",
                    "reason": "rule cpu-critical",
                }
            ]
        },
    )
    reply = await make(services, understanding, items).reply(VIEWER, "explain anomaly 6b1f2e", "c")
    text = reply.answer.text
    assert "Expected band: 20 to 50; seen 97.5." in text
    assert (
        "Detectors: out_of_range (beyond anything seen before on this series); "
        "hard_limit (past a fixed limit set in the detector's configuration)"
    ) in text
    assert "• `restart_service`: *succeeded* — rule cpu-critical" in text
    assert services.seen[-1].url.params["anomaly_id"] == anomaly_id


@pytest.mark.parametrize(
    ("text", "range_words"),
    [
        ("silence web-1 for 0m", "a silence lasts 1 minute to 30 days"),
        ("please mute web-2 for 0s", "a silence lasts 1 minute to 30 days"),
        ("scale out web-1 by 1000", "scale by 1 to 20 instances"),
        ("could you add 50 instances to web-1", "scale by 1 to 20 instances"),
        ("put web-1 in maintenance for 0m", "a maintenance window lasts 1 minute to 30 days"),
        ("show anomalies in the last 90 days", "a look-back window is 1 minute to 30 days"),
        ("top 99 noisiest resources", "the noisiest list shows the top 1 to 20"),
        ("top -3 noisiest", "the noisiest list shows the top 1 to 20"),
        ("please scale web-1 out by 500", "scale by 1 to 20 instances"),
        ("scale out web-1 by -5", "scale by 1 to 20 instances"),
        ("mute web-1 for -1h", "a silence lasts 1 minute to 30 days"),
    ],
)
async def test_a_value_out_of_range_is_refused_never_proposed_as_another(
    understanding: Understanding, text: str, range_words: str
) -> None:
    services = Services()
    reply = await make(services, understanding).reply(ADMIN, text, "c")
    assert reply.answer.outcome is Outcome.REFUSED
    assert f"is out of range: {range_words}." in reply.answer.text
    assert "command" not in reply.answer.data  # nothing a "yes" could confirm
    assert services.seen == []


async def test_a_length_not_read_is_proposed_saying_the_default_it_uses(
    understanding: Understanding,
) -> None:
    services = Services()
    reply = await make(services, understanding).reply(ADMIN, "silence web-1 for a long time", "c")
    assert reply.answer.outcome is Outcome.CONFIRM
    assert reply.answer.data["command"] == "silence web-1 for 1h"
    assert "I read no length, so it uses the default 1h" in reply.answer.text
    assert reply.answer.data["defaulted"] == ["duration_s"]
    assert services.seen == []


@pytest.mark.parametrize(
    ("text", "elsewhere"),
    [
        ("false positive 1242a153", "POST /anomaly/{anomaly_id}/feedback"),
        ("mark 1242a153 as a false alarm", "POST /anomaly/{anomaly_id}/feedback"),
        ("ack 1242a153", "POST /notifications/acknowledgements"),
        ("acknowledged 1242a153", "POST /notifications/acknowledgements"),
    ],
)
async def test_a_verb_chatops_does_not_do_is_never_proposed_as_approve_or_reject(
    understanding: Understanding, text: str, elsewhere: str
) -> None:
    services = Services()
    reply = await make(services, understanding).reply(OPERATOR, text, "c")
    assert reply.answer.outcome is Outcome.NOT_UNDERSTOOD and reply.intent is None
    assert "command" not in reply.answer.data and "options" not in reply.answer.data
    assert elsewhere in reply.answer.text
    real = "`approve 4f1c09ab` / `reject 4f1c09ab because ...`"  # the real commands
    assert real in reply.answer.text
    assert "approve 1242a153" not in reply.answer.text
    assert "reject 1242a153" not in reply.answer.text
    assert services.seen == []
    # The approval verbs it knows are still read as theirs.
    nack = await make(services, understanding).reply(OPERATOR, "nack 1242a153", "c")
    assert nack.answer.data["command"] == "reject 1242a153"


@pytest.mark.parametrize("text", ["anomalies at 9am", "anomalies around 9:30 pm"])
async def test_a_time_of_day_is_never_read_as_a_resource(
    understanding: Understanding, text: str
) -> None:
    anomalies = Anomalies()
    chat = make(Services(), understanding)
    chat.index = anomalies
    reply = await chat.reply(VIEWER, text, "c")
    assert reply.intent is not None and reply.intent.entities.resource is None
    assert reply.answer.data["command"] == "anomalies in the last 1h"
    assert "I read a time of day only after `since`" in reply.answer.text
    assert [q.resource_id for q in anomalies.queries] == [None]


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("restart nginx on web-1 as soon as traffic drops", "as soon as traffic drops"),
        ("restart nginx on web-1 unless it is busy", "unless it is busy"),
        ("could you kick gunicorn on web-1 at 3am", "at 3am"),
        ("clean up the disk on web-2 tonight please", "tonight please"),
        ("restart nginx on web-1 on friday", "on friday"),
        ("restart nginx on web-1 in five minutes", "in five minutes"),
        ("restart nginx on web-1 this evening", "this evening"),
        ("restart nginx on web-1 next week", "next week"),
        ("restart nginx on web-1 during the maintenance window", "during the maintenance window"),
        ("restart nginx on web-1 in half an hour", "in half an hour"),
        ("restart nginx on web-1 at 0300", "at 0300"),
    ],
)
async def test_an_action_put_off_until_something_holds_is_neither_proposed_nor_run(
    understanding: Understanding, text: str, clause: str
) -> None:
    services = Services()
    engine = make(services, understanding)
    reply = await engine.reply(OPERATOR, text, "c")
    assert reply.answer.outcome is Outcome.NOT_UNDERSTOOD, reply.answer.text
    assert reply.answer.text.startswith(f"I cannot wait for a condition (`{clause}`)")
    assert "Nothing was done." in reply.answer.text
    assert not [r for r in services.seen if r.method != "GET"]


@pytest.mark.parametrize(
    "text",
    [
        "restart nginx on web-1, it is stuck after the deploy",
        "clean up the disk on web-1, it is at 95% full",
        "restart nginx on web-1 once again",
        "restart gunicorn on web-1, it leaks memory when busy",
        "restart nginx on till-3",
    ],
)
async def test_what_is_wrong_said_with_an_action_is_not_a_condition(
    understanding: Understanding, text: str
) -> None:
    reply = await make(Services(), understanding).reply(OPERATOR, text, "c")
    assert not reply.answer.text.startswith("I cannot wait for a condition"), reply.answer.text
