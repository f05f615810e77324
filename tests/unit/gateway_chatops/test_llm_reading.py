"""What the LLM answers is read strictly: a valid intent, or nothing."""

from __future__ import annotations

import json

import pytest

from services.gateway.chatops.intents import ActionName, IntentName
from services.gateway.chatops.llm import read_completion, system_prompt


def completion(content: object) -> bytes:
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": content}}]}
    ).encode()


def test_a_valid_intent_is_read() -> None:
    intent = read_completion(
        completion(
            '{"intent": "run_action", "entities": {"action": "restart_service", '
            '"resource": "web-1", "service": "nginx"}}'
        )
    )
    assert intent is not None and intent.intent is IntentName.RUN_ACTION
    assert intent.entities.action is ActionName.RESTART_SERVICE


def test_a_fenced_json_reply_is_read() -> None:
    intent = read_completion(completion('```json\n{"intent": "status"}\n```'))
    assert intent is not None and intent.intent is IntentName.STATUS


@pytest.mark.parametrize(
    "raw",
    [
        completion('{"intent": "none"}'),
        completion("Sure! I will restart nginx on web-1 for you."),
        completion('{"intent": "status", "entities": {"resource": "web-1"}}'),
        completion('{"intent": "run_action", "entities": {"action": "restart_service"}}'),
        completion('{"intent": "delete_everything"}'),
        completion('{"intent": "status", "confidence": 0.9}'),
        completion('{"intent": "recent_anomalies", "entities": {"window_s": "3600"}}'),
        completion(None),
        completion('{"intent": "help"}' + " " * 5000),
        b'{"choices": []}',
        b"not json",
        b'{"error": {"message": "rate limited"}}',
    ],
)
def test_anything_else_is_not_understood(raw: bytes) -> None:
    assert read_completion(raw) is None


def test_the_prompt_states_the_schema_and_every_intent() -> None:
    prompt = system_prompt()
    for intent in IntentName:
        assert f"- {intent.value}:" in prompt
    assert '"additionalProperties":false' in prompt
