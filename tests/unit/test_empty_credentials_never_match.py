"""Defence in depth, should a service ever run with an empty secret: an empty or absent internal
token header never matches, and a Slack request signed with an empty key is never genuine."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import Message

from services.gateway.slack.signature import SlackVerificationError, sign
from services.gateway.slack.verification import SlackVerifier
from shared.settings import BaseServiceSettings
from shared.web import INTERNAL_TOKEN_HEADER, require_internal_token


def _app_expecting(token: str) -> FastAPI:
    app = FastAPI()
    # model_construct: the settings would refuse this token; the check must hold regardless.
    app.state.settings = BaseServiceSettings.model_construct(internal_token=SecretStr(token))

    @app.post("/mutate", dependencies=[Depends(require_internal_token)])
    async def mutate() -> dict[str, bool]:
        return {"done": True}

    return app


@pytest.mark.parametrize("expected", ["", "   "])
@pytest.mark.parametrize("given", [None, "", "   "])
async def test_an_empty_expected_token_lets_nobody_in(expected: str, given: str | None) -> None:
    headers = {} if given is None else {INTERNAL_TOKEN_HEADER: given}
    transport = httpx.ASGITransport(app=_app_expecting(expected))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        reply = await client.post("/mutate", headers=headers)
    assert reply.status_code == 401


async def test_the_right_token_still_opens_the_door() -> None:
    transport = httpx.ASGITransport(app=_app_expecting("a-real-token"))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.post("/mutate")).status_code == 401
        ok = await client.post("/mutate", headers={INTERNAL_TOKEN_HEADER: "a-real-token"})
    assert ok.status_code == 200


class _FirstTime:
    async def first_time(self, body: bytes) -> bool:
        return True


def _slack_request(body: bytes, headers: dict[str, str]) -> Request:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/slack/commands",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


@pytest.mark.parametrize("secret", ["", " ", "\n"])
async def test_a_request_signed_with_an_empty_key_is_refused(secret: str) -> None:
    body = b"team_id=T1&user_id=U1&command=%2Fcloudops&text=restart+web-1&trigger_id=1"
    now = time.time()
    timestamp = str(int(now))
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }
    verifier = SlackVerifier(SecretStr(secret), _FirstTime(), clock=lambda: now)
    with pytest.raises(SlackVerificationError, match="SCOPS_SLACK_SIGNING_SECRET is empty"):
        await verifier.verified_body(_slack_request(body, headers))
