"""Every example docs/chatops.md gives of an intent is understood as that intent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.extraction import Knowledge
from services.gateway.chatops.understanding import Understanding

DOC = Path(__file__).resolve().parents[3] / "docs" / "chatops.md"
KNOWN = Knowledge(
    resources=frozenset({"web-1", "web-2", "db-1", "db-2", "cache-1", "api-1", "web-asg"}),
    metrics=frozenset({"cpu_utilization"}),
    rules=frozenset({"cpu-critical", "idle"}),
)
NOT_MESSAGES = {"in dry run", "because <reason>", "overnight", "last night", "today"}


def documented() -> list[tuple[str, str]]:
    text = DOC.read_text()
    table = text[text.index("| intent | examples") : text.index("The roles are those")]
    examples = []
    for line in table.strip().splitlines()[2:]:
        cells = line.split("|")
        intents = re.findall(r"`([a-z_]+)`", cells[1])
        for example in re.findall(r"`([^`]+)`", cells[2]):
            if example not in NOT_MESSAGES:
                examples.append(("/".join(intents), example))
    return examples


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    return Understanding(IntentClassifier.train())


def test_the_table_lists_examples_of_every_intent() -> None:
    assert len(documented()) > 60


@pytest.mark.parametrize(("intents", "example"), documented())
def test_a_documented_example_is_understood_as_documented(
    understanding: Understanding, intents: str, example: str
) -> None:
    understood = understanding.understand(example, KNOWN)
    assert understood.chat is not None, understood
    assert understood.chat.intent.value in intents.split("/")
