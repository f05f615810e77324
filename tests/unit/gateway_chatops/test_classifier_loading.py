"""The ChatOps classifier is trained once, off the event loop, and a broken corpus leaves
ChatOps reading exact commands."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.classifier_loading import ClassifierLoader
from services.gateway.chatops.extraction import Knowledge
from services.gateway.proxy import Backends
from tests.unit.gateway_chatops.test_engine import (
    APPROVAL_A,
    OPERATOR,
    Anomalies,
    Services,
    pending,
)


@pytest.fixture(scope="module")
def trained() -> IntentClassifier:
    return IntentClassifier.train()


async def test_many_first_messages_at_once_train_once_off_the_loop(
    trained: IntentClassifier,
) -> None:
    calls: list[int] = []
    release = threading.Event()

    def train() -> IntentClassifier:
        calls.append(threading.get_ident())
        release.wait(5)
        return trained

    loader = ClassifierLoader(train)
    waiting = [asyncio.create_task(loader.understanding()) for _ in range(5)]
    # The event loop is free while training runs: this sleep returns.
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in waiting)
    release.set()
    results = await asyncio.gather(*waiting)
    assert len(calls) == 1 and calls[0] != threading.get_ident()
    first = results[0]
    assert first is not None and all(r is first for r in results)
    understood = first.understand("restart nginx on web-1", Knowledge())
    assert understood.source == "parser"


async def test_a_message_given_up_does_not_cancel_the_training(trained: IntentClassifier) -> None:
    release = threading.Event()

    def train() -> IntentClassifier:
        release.wait(5)
        return trained

    loader = ClassifierLoader(train)
    first = asyncio.create_task(loader.understanding())
    await asyncio.sleep(0.02)
    first.cancel()
    release.set()
    assert await loader.understanding() is not None


async def test_start_trains_before_any_message_asks(trained: IntentClassifier) -> None:
    started = threading.Event()

    def train() -> IntentClassifier:
        started.set()
        return trained

    loader = ClassifierLoader(train)
    loader.start()
    assert await asyncio.to_thread(started.wait, 5)


async def test_an_unreadable_corpus_leaves_no_classifier() -> None:
    def train() -> IntentClassifier:
        raise FileNotFoundError("train.yaml")

    assert await ClassifierLoader(train).understanding() is None


async def test_an_exact_command_is_answered_while_the_classifier_trains(
    trained: IntentClassifier,
) -> None:
    release = threading.Event()

    def train() -> IntentClassifier:
        release.wait(10)
        return trained

    services = Services()
    services.answers[("GET", "/remediation/approvals")] = httpx.Response(
        200, json=[pending(APPROVAL_A, "pool-a")]
    )
    loader = ClassifierLoader(train)
    chat = ChatEngine(
        Backends(
            httpx.AsyncClient(transport=httpx.MockTransport(services.handle)),
            {"detector": "http://d", "remediator": "http://r", "notifier": "http://n"},
            "internal",
        ),
        Anomalies([]),
        understanding=loader,
    )
    loader.start()
    try:
        exact = await asyncio.wait_for(chat.reply(OPERATOR, "approve 42424242", "c"), 5)
        assert exact.understood_by == "parser"
        assert exact.answer.text.startswith("No pending approval starts with `42424242`")
        free_words = asyncio.create_task(chat.reply(OPERATOR, "anything waiting for me?", "c"))
        await asyncio.sleep(0.05)
        assert not free_words.done()  # free words wait for the classifier
    finally:
        release.set()
    assert (await free_words).understood_by == "classifier"


async def test_what_waits_for_training_runs_once_it_ends_however_it_started(
    trained: IntentClassifier,
) -> None:
    calls: list[str] = []
    loader = ClassifierLoader(lambda: trained)
    loader.after_built(lambda: calls.append("before start"))
    assert await loader.understanding() is not None  # started by the first message
    await asyncio.sleep(0)
    assert calls == ["before start"]
    loader.after_built(lambda: calls.append("after the end"))
    await asyncio.sleep(0)
    assert calls == ["before start", "after the end"]


async def test_a_failed_training_still_runs_what_waits_for_it() -> None:
    def train() -> IntentClassifier:
        raise FileNotFoundError("train.yaml")

    calls: list[str] = []
    loader = ClassifierLoader(train)
    loader.start()
    loader.after_built(lambda: calls.append("ended"))
    assert await loader.understanding() is None
    await asyncio.sleep(0)
    assert calls == ["ended"]
