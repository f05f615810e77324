"""Input from outside the gateway that would crash a careless parser: a Slack timestamp of
Unicode digits, an interaction payload or an LLM reply nested without end."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from services.gateway.chatops.llm import read_completion
from services.gateway.slack.commands import MalformedSlackRequestError
from services.gateway.slack.interactions import parse_payload
from services.gateway.slack.signature import SlackVerificationError, check_signature, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"user_id=U1&text=help"


@pytest.mark.parametrize("timestamp", ["\u00b2", "\u0661\u0662", "\uff11\uff12"])
def test_a_timestamp_of_non_ascii_digits_is_refused_as_unauthorized(timestamp: str) -> None:
    assert timestamp.isdigit()  # what used to let it through to int()
    with pytest.raises(SlackVerificationError, match="not a Unix time"):
        check_signature(SECRET, timestamp, sign(SECRET, timestamp, BODY), BODY, 12.0)


def interaction(payload: str) -> bytes:
    return ("payload=" + quote(payload)).encode()


def test_an_interaction_payload_nested_100000_levels_is_malformed() -> None:
    with pytest.raises(MalformedSlackRequestError, match="payload: nested deeper than 64"):
        parse_payload(interaction("[" * 100_000 + "]" * 100_000))


def test_an_interaction_payload_with_nan_is_malformed_naming_where() -> None:
    with pytest.raises(MalformedSlackRequestError, match=r"payload\.actions\[0\]\.value: NaN"):
        parse_payload(interaction('{"type": "block_actions", "actions": [{"value": NaN}]}'))


def test_an_llm_reply_nested_without_end_is_not_understood() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert read_completion(deep) is None
    within_length = "[" * 3000 + "]" * 500  # content under MAX_OUTPUT, nested 3000 deep
    assert (
        read_completion(json.dumps({"choices": [{"message": {"content": within_length}}]}).encode())
        is None
    )
