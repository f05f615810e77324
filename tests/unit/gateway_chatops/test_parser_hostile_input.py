"""ChatOps messages the deterministic parser must not read as something the asker did not write
(and act on at once), a message that would cost exponential CPU, numbers that would crash it,
and proposed commands that would read back as another intent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.parser import parse
from services.gateway.chatops.proposals import sendable
from services.gateway.chatops.replies import NotUnderstood, Outcome
from tests.unit.gateway_chatops.test_engine import OPERATOR, Services, engine

ROOT = Path(__file__).resolve().parents[3]


# -- 1. ReDoS: _TRAILING in parser.tidy ----------------------------------------------------


@pytest.mark.parametrize("filler", ["?", "!", "."])
def test_a_47_character_message_is_tidied_in_well_under_a_second(filler: str) -> None:
    # "status" + 40 question marks + " x": 47 characters, far below the 500 the API accepts.
    # Run in a child so that a catastrophic backtrack costs at most the timeout, not hours.
    text = "status" + filler * 40 + " x"
    code = f"from services.gateway.chatops.parser import parse; parse({text!r})"
    try:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=3, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"parse({text!r}) ran for more than 3 s (exponential backtracking)")


# -- 2. A huge number crashes the parser (OverflowError, a 500) -----------------------------


@pytest.mark.parametrize(
    "text",
    [
        "silence web-1 for " + "9" * 400 + "h",
        "anomalies in the last " + "9" * 400 + " hours",
        "maintenance on web-1 for " + "9" * 400 + "m",
        "summary of the last " + "9" * 400 + " days",
    ],
)
def test_a_huge_number_is_refused_or_not_understood_never_a_crash(text: str) -> None:
    result = parse(text)  # raises OverflowError: cannot convert float infinity to integer
    assert isinstance(result, NotUnderstood)


async def test_a_huge_silence_length_is_an_answer_not_an_exception() -> None:
    services = Services()
    reply = await engine(services).reply(OPERATOR, "silence web-1 for " + "9" * 400 + "h", "c")
    assert reply.answer.outcome in (Outcome.REFUSED, Outcome.NOT_UNDERSTOOD)
    assert services.seen == []


# -- 3. "as ..." after an action is read as its reason: the action runs now ----------------


@pytest.mark.parametrize(
    "text",
    [
        "scale in web-asg by 2 as soon as traffic drops",  # a condition, not a reason
        "restart nginx on web-1 as well as web-2",  # a second target, silently dropped
        "restart nginx on web-1 as a dry run later",  # asked as a dry run: runs for real
    ],
)
def test_words_after_as_are_not_read_as_a_reason_for_acting_now(text: str) -> None:
    result = parse(text)
    # Like "restart nginx on web-1 unless it is busy": not understood, rather than acted on.
    assert isinstance(result, NotUnderstood), result


async def test_a_restart_asked_as_a_dry_run_is_not_sent_as_a_real_one() -> None:
    services = Services()
    services.answers[("POST", "/remediation/execute")] = httpx.Response(
        202, json={"status": "queued", "anomaly_id": "9d0c", "action": "restart_service"}
    )
    await engine(services).reply(OPERATOR, "restart nginx on web-1 as a dry run later", "c")
    sent = [services.body(i) for i in range(len(services.seen))]
    assert all(body["dry_run"] for body in sent), sent  # not understood, or a dry run


# -- 4. "mute alerts for 2h" silences a resource named "2h", for the default hour ----------


@pytest.mark.parametrize("text", ["mute alerts for 2h", "silence notifications for 30m"])
def test_a_length_is_never_read_as_the_resource_to_silence(text: str) -> None:
    result = parse(text)
    assert not (isinstance(result, ChatIntent) and result.entities.resource in ("2h", "30m")), (
        result
    )


async def test_mute_alerts_for_2h_sends_no_silence_of_a_resource_named_2h() -> None:
    services = Services()
    services.answers[("POST", "/notifications/silences")] = httpx.Response(201, json={"id": "s1"})
    await engine(services).reply(OPERATOR, "mute alerts for 2h", "c")
    sent = [services.body(i) for i in range(len(services.seen))]
    assert {"matchers": {"resource": "2h"}, "duration_s": 3600} not in [
        {"matchers": s["matchers"], "duration_s": s["duration_s"]} for s in sent
    ], sent


@pytest.mark.parametrize(
    ("intent", "entities"),
    [
        (IntentName.SILENCE, {"resource": "alerts", "duration_s": 7200}),
        (IntentName.UNSHADOW_RULE, {"rule": "please"}),
    ],
)
def test_a_command_that_reads_back_as_something_else_is_never_offered(
    intent: IntentName, entities: dict[str, object]
) -> None:
    """What an LLM (or the classifier) proposes is confirmed by sending its command back (or
    saying "yes", which sends it): a command whose words read back as another intent (a rule
    named "please", which tidying drops) is not offered at all."""
    chat = ChatIntent.of(intent, **entities)
    assert parse(chat.as_command()) != chat  # the trap this is about
    assert sendable(chat) is None
    plain = ChatIntent.of(IntentName.SILENCE, resource="web-1", duration_s=7200)
    assert sendable(plain) is not None and parse(str(sendable(plain))) == plain
