"""One aioboto3 session per process and AWS calls retried with backoff on transient errors.

botocore's own retries are switched off so that one policy (tenacity, logged) applies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aioboto3
import aiohttp
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.remediator.aws.errors import as_call_error, error_code, is_transient
from services.remediator.config import RemediatorSettings

log = structlog.get_logger("remediator.aws")


@dataclass(frozen=True)
class AwsConfig:
    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    attempts: int = 4
    max_wait_s: float = 8.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    confirm_delay_s: float = 2.0  # after an ambiguous SendCommand, wait before looking it up

    @classmethod
    def from_settings(cls, settings: RemediatorSettings) -> AwsConfig:
        if settings.aws_region is None:
            raise ValueError("AWS is not configured (SCOPS_AWS_REGION is unset)")
        key = settings.aws_access_key_id
        secret = settings.aws_secret_access_key
        return cls(
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            access_key_id=key.get_secret_value() if key else None,
            secret_access_key=secret.get_secret_value() if secret else None,
            attempts=settings.aws_attempts,
            max_wait_s=settings.aws_retry_max_wait_s,
        )


class AwsApi:
    """Clients for one region; :meth:`call` retries transient errors (unless told not to: a
    call that is not idempotent) and raises AwsCallError."""

    def __init__(self, config: AwsConfig) -> None:
        self.config = config
        self.session = aioboto3.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
        )
        self._botocore = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=config.connect_timeout_s,
            read_timeout=config.read_timeout_s,
        )

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[Any]:
        async with self.session.client(
            service, endpoint_url=self.config.endpoint_url, config=self._botocore
        ) as client:
            yield client

    async def call(
        self, client: Any, operation: str, *, retry: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        """One AWS call. ``retry=False``: exactly one try, for calls that must not be repeated
        blindly (``SendCommand`` has no idempotency token: after a read timeout the command
        may be running, and a second try would run it twice)."""
        method = getattr(client, operation)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.config.attempts if retry else 1),
                wait=wait_exponential_jitter(
                    multiplier=0.2, max=self.config.max_wait_s, jitter=self.config.max_wait_s / 4
                ),
                retry=retry_if_exception(is_transient),
                before_sleep=_log_retry(operation),
                reraise=True,
            ):
                with attempt:
                    reply: dict[str, Any] = await method(**kwargs)
                    return reply
        except (ClientError, BotoCoreError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise as_call_error(operation, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _log_retry(operation: str) -> Any:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "aws_call_retried",
            operation=operation,
            attempt=state.attempt_number,
            error_code=error_code(exc) if exc else None,
            wait_s=round(state.next_action.sleep, 2) if state.next_action else None,
        )

    return before_sleep
