"""Moments said after "since" through the engine (now is Thursday 2026-11-26 18:00 UTC): the
window starts at the moment and the answer says where; a moment to come or no time at all is
refused before anything is looked up."""

from __future__ import annotations

import pytest

from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.intents import IntentName
from services.gateway.chatops.replies import Outcome
from services.gateway.chatops.understanding import Understanding
from tests.unit.gateway_chatops.test_engine import NOW, Anomalies, Services, engine
from tests.unit.gateway_chatops.test_engine_understanding import VIEWER, make

RECENT = IntentName.RECENT_ANOMALIES


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    return Understanding(IntentClassifier.train())


def with_index(chat: ChatEngine) -> Anomalies:
    anomalies = Anomalies()
    chat.index = anomalies
    return anomalies


@pytest.mark.parametrize(
    ("text", "intent", "window_s", "start"),
    [
        ("anomalies since 9am", RECENT, 9 * 3600, "Thursday 2026-11-26 09:00"),
        ("what happened since 14:30", RECENT, 12600, "Thursday 2026-11-26 14:30"),
        ("anomalies since yesterday", RECENT, 42 * 3600, "Wednesday 2026-11-25 00:00"),
        ("noisiest since Monday", IntentName.NOISIEST, 90 * 3600, "Monday 2026-11-23 00:00"),
        ("what happened in the last 2 hours", RECENT, 7200, None),
    ],
)
async def test_an_exact_command_looks_back_to_the_moment_said(
    text: str, intent: IntentName, window_s: int, start: str | None
) -> None:
    chat = engine(Services())
    anomalies = with_index(chat)
    reply = await chat.reply(VIEWER, text, "c")
    assert reply.answer.outcome is Outcome.ANSWERED, reply.answer.text
    assert reply.intent is not None and reply.intent.intent is intent
    assert reply.intent.entities.window_s == window_s
    assert anomalies.queries[-1].since == NOW - window_s
    if start is not None:
        assert f"since {start} UTC" in reply.answer.text
        assert reply.answer.data["since"].startswith(start[-16:].replace(" ", "T"))


async def test_free_words_look_back_to_the_moment_said(understanding: Understanding) -> None:
    chat = make(Services(), understanding)
    anomalies = with_index(chat)
    reply = await chat.reply(VIEWER, "any critical alerts on web-1 since 9am?", "c")
    assert reply.intent is not None and reply.intent.entities.window_s == 9 * 3600
    assert anomalies.queries[-1].since == NOW - 9 * 3600
    assert "since Thursday 2026-11-26 09:00 UTC" in reply.answer.text
    assert "I do not read a time of day" not in reply.answer.text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("anomalies since 9pm", "which is still to come"),
        ("what happened since tomorrow", "is still to come"),
        ("anomalies since 25:00", "I cannot read `25:00` as a time"),
        ("anomalies since 9am CET", "I read times in UTC only"),
        ("anomalies since 99999999999999999999 hours ago", "is more than 30 days ago"),
    ],
)
async def test_a_moment_to_come_or_no_time_is_refused_before_anything_is_looked_up(
    understanding: Understanding, text: str, words: str
) -> None:
    for chat in (engine(Services()), make(Services(), understanding)):
        anomalies = with_index(chat)
        reply = await chat.reply(VIEWER, text, "c")
        assert reply.answer.outcome is Outcome.REFUSED
        assert words in reply.answer.text
        assert reply.answer.data == {"refused": "moment"}
        assert anomalies.queries == []
        quick = chat.quick_reply(VIEWER, text)
        assert quick is not None and quick.answer.text == reply.answer.text


async def test_a_moment_an_answer_cannot_use_is_said_to_be_unused(
    understanding: Understanding,
) -> None:
    chat = make(Services(), understanding)
    with_index(chat)
    reply = await chat.reply(VIEWER, "what's wrong with web-1 since 9am", "c")
    assert reply.intent is not None
    assert reply.intent.intent is IntentName.RESOURCE_HEALTH
    assert "`since 9am` is not used: I read `what's wrong with web-1`" in (reply.answer.text)


async def test_a_window_read_from_free_words_is_said_as_a_command_that_reads_back(
    understanding: Understanding,
) -> None:
    chat = make(Services(), understanding)
    chat.clock = lambda: NOW + 12  # 18:00:12
    with_index(chat)
    reply = await chat.reply(VIEWER, "since Monday", "c")
    assert reply.understood_by == "classifier"
    command = "anomalies in the last 3d18h12s"
    assert reply.answer.data["command"] == command
    assert f"(understood as `{command}`" in reply.answer.text
    again = await chat.reply(VIEWER, command, "c")
    assert again.intent == reply.intent


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("anomalies since noonish", "since noonish"),
        ("anomalies since the deploy", "since the deploy"),
    ],
)
async def test_words_after_since_that_are_no_moment_are_said_not_read(
    understanding: Understanding, text: str, said: str
) -> None:
    chat = make(Services(), understanding)
    with_index(chat)
    reply = await chat.reply(VIEWER, text, "c")
    assert reply.intent is not None and reply.intent.entities.window_s == 3600
    assert f"I cannot read `{said}` as a moment, so this is the default 1h" in reply.answer.text


async def test_help_names_the_moments_it_reads() -> None:
    reply = await engine(Services()).reply(VIEWER, "help", "c")
    assert "`anomalies since 9am` (or `since yesterday`, `since Monday`; times are UTC)" in (
        reply.answer.text
    )
