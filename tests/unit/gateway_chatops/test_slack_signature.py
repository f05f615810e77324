"""Slack's request signature: only a genuine, fresh, first-seen request passes."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import Message

from services.gateway.slack.signature import SlackVerificationError, check_signature, sign
from services.gateway.slack.verification import SlackVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_764_180_000.0
BODY = b"token=x&team_id=T1&user_id=U1&command=%2Fcloudops&text=status&trigger_id=1.2.3"


def test_sign_matches_slacks_documented_construction() -> None:
    base = b"v0:" + str(int(NOW)).encode() + b":" + BODY
    expected = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert sign(SECRET, str(int(NOW)), BODY) == expected


class SeenBodies:
    """In-memory stand-in for the Redis replay guard."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    async def first_time(self, body: bytes) -> bool:
        if body in self.seen:
            return False
        self.seen.add(body)
        return True


def request(body: bytes, headers: dict[str, str]) -> Request:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/slack/commands",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def signed(body: bytes, *, secret: str = SECRET, at: float = NOW) -> dict[str, str]:
    timestamp = str(int(at))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def verifier(guard: SeenBodies | None = None, secret: str | None = SECRET) -> SlackVerifier:
    return SlackVerifier(
        SecretStr(secret) if secret else None, guard or SeenBodies(), clock=lambda: NOW
    )


async def test_valid_wrong_secret_stale_and_replayed_only_the_first_passes() -> None:
    check = verifier()
    assert await check.verified_body(request(BODY, signed(BODY))) == BODY
    cases = {
        "wrong secret": (BODY + b"&n=1", signed(BODY + b"&n=1", secret="not-the-secret")),
        "stale timestamp": (BODY + b"&n=2", signed(BODY + b"&n=2", at=NOW - 301)),
        "future timestamp": (BODY + b"&n=3", signed(BODY + b"&n=3", at=NOW + 301)),
        "replayed body": (BODY, signed(BODY)),
        "replayed with a fresh signature": (BODY, signed(BODY, at=NOW - 10)),
    }
    reasons = {}
    for name, (body, headers) in cases.items():
        with pytest.raises(SlackVerificationError) as refused:
            await check.verified_body(request(body, headers))
        reasons[name] = refused.value.reason
    assert reasons == {
        "wrong secret": "the Slack signature does not match",
        "stale timestamp": "the request timestamp is more than 5 minutes off",
        "future timestamp": "the request timestamp is more than 5 minutes off",
        "replayed body": "this request was already received (replay)",
        "replayed with a fresh signature": "this request was already received (replay)",
    }


async def test_a_refused_request_does_not_use_up_its_body() -> None:
    guard = SeenBodies()
    check = verifier(guard)
    with pytest.raises(SlackVerificationError):
        await check.verified_body(request(BODY, signed(BODY, secret="wrong")))
    assert guard.seen == set()
    assert await check.verified_body(request(BODY, signed(BODY))) == BODY


async def test_within_five_minutes_passes() -> None:
    check = verifier()
    body = BODY + b"&n=late"
    assert await check.verified_body(request(body, signed(body, at=NOW - 299))) == body


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "headers are required"),
        ({"X-Slack-Signature": "v0=00"}, "headers are required"),
        (
            {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
            "not a Unix time",
        ),
        (
            {"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": "v0=00"},
            "does not match",
        ),
    ],
)
async def test_missing_or_malformed_headers(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SlackVerificationError, match=reason):
        await verifier().verified_body(request(BODY, headers))


async def test_tampered_body_fails() -> None:
    headers = signed(BODY)
    with pytest.raises(SlackVerificationError, match="does not match"):
        await verifier().verified_body(request(BODY.replace(b"status", b"restart"), headers))


async def test_without_a_signing_secret_everything_is_refused() -> None:
    with pytest.raises(SlackVerificationError, match="SCOPS_SLACK_SIGNING_SECRET"):
        await verifier(secret=None).verified_body(request(BODY, signed(BODY)))


def test_check_signature_is_pure() -> None:
    timestamp = str(int(NOW))
    check_signature(SECRET, timestamp, sign(SECRET, timestamp, b""), b"", NOW)
