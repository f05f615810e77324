"""Verifying a Slack request before anything reads it: the signing secret is configured, the
signature is valid and fresh (``signature``), and the body was not seen before."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from fastapi import Request
from pydantic import SecretStr
from redis.asyncio import Redis

from services.gateway.slack.signature import (
    TOLERANCE_S,
    SlackVerificationError,
    check_signature,
)
from shared.streams import PREFIX


class SeenBodies(Protocol):
    async def first_time(self, body: bytes) -> bool: ...


class ReplayGuard:
    """Remembers every verified body for twice the timestamp window (a body is acceptable
    from 5 minutes before to 5 minutes after its timestamp), so a replay is refused even
    with a fresh signature. Slack's payloads carry a trigger id, so genuine requests never
    repeat a body."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def first_time(self, body: bytes) -> bool:
        digest = hashlib.sha256(body).hexdigest()
        key = f"{PREFIX}:{{slack}}:seen:{digest}"
        return bool(await self.redis.set(key, b"1", nx=True, ex=2 * TOLERANCE_S))


class SlackVerifier:
    def __init__(
        self,
        secret: SecretStr | None,
        guard: SeenBodies,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.guard = guard
        self.clock = clock

    async def verified_body(self, request: Request) -> bytes:
        """The raw body of a genuine, first-seen Slack request; else
        :class:`SlackVerificationError`."""
        if self.secret is None:
            raise SlackVerificationError(
                "Slack is not configured here (SCOPS_SLACK_SIGNING_SECRET is unset)"
            )
        if not self.secret.get_secret_value().strip():
            # Anyone can sign with an empty key: such a secret verifies nothing.
            raise SlackVerificationError(
                "Slack is not configured here (SCOPS_SLACK_SIGNING_SECRET is empty)"
            )
        body = await request.body()
        check_signature(
            self.secret.get_secret_value(),
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
            body,
            self.clock(),
        )
        if not await self.guard.first_time(body):
            raise SlackVerificationError("this request was already received (replay)")
        return body
