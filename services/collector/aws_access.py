"""AWS access for the collector: a session per account (the collector's own credentials, or a
role assumed with STS and renewed shortly before its credentials expire) and calls retried
with backoff on throttling and server errors.

botocore's own retries are off so that one policy (tenacity, logged) applies. Errors:
``AwsUnavailable`` (the call failed for good, with the AWS error code).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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

log = structlog.get_logger("collector.aws")

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "InternalServiceError",
    }
)
# Assumed credentials are renewed this long before they expire.
RENEW_BEFORE = timedelta(minutes=5)
ROLE_SESSION_SECONDS = 3600


class AwsUnavailable(Exception):
    """An AWS call failed for good (a permanent error, or a transient one past every retry)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code


def _code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return _code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, BotoCoreError | aiohttp.ClientError | asyncio.TimeoutError | OSError)


@dataclass(frozen=True)
class AwsAccess:
    """Where and as whom to call AWS. ``role_arn``: assume this role (another account)."""

    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    attempts: int = 5
    max_wait_s: float = 20.0
    read_timeout_s: float = 30.0

    def in_region(self, region: str, role_arn: str | None) -> AwsAccess:
        return AwsAccess(
            region,
            self.endpoint_url,
            self.access_key_id,
            self.secret_access_key,
            role_arn,
            self.attempts,
            self.max_wait_s,
            self.read_timeout_s,
        )


class AwsApi:
    """Clients and retried calls for one :class:`AwsAccess`."""

    def __init__(self, access: AwsAccess) -> None:
        self.access = access
        self._base = aioboto3.Session(
            aws_access_key_id=access.access_key_id,
            aws_secret_access_key=access.secret_access_key,
            region_name=access.region,
        )
        self._assumed: aioboto3.Session | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()
        self._config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=access.read_timeout_s,
        )

    async def _session(self) -> aioboto3.Session:
        if self.access.role_arn is None:
            return self._base
        async with self._lock:
            if self._assumed is None or datetime.now(UTC) >= self._expires - RENEW_BEFORE:
                self._assumed, self._expires = await self._assume(self.access.role_arn)
            return self._assumed

    async def _assume(self, role_arn: str) -> tuple[aioboto3.Session, datetime]:
        async with self._base.client(
            "sts", endpoint_url=self.access.endpoint_url, config=self._config
        ) as sts:
            reply = await self.call(
                sts,
                "assume_role",
                RoleArn=role_arn,
                RoleSessionName="smartcloudops-collector",
                DurationSeconds=ROLE_SESSION_SECONDS,
            )
        creds = reply["Credentials"]
        log.info("aws_role_assumed", role_arn=role_arn, expires=str(creds["Expiration"]))
        session = aioboto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.access.region,
        )
        expires = creds["Expiration"]
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires)
        return session, expires.astimezone(UTC)

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[Any]:
        session = await self._session()
        async with session.client(
            service, endpoint_url=self.access.endpoint_url, config=self._config
        ) as client:
            yield client

    async def call(self, client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One AWS call (every call the collector makes only reads, so retrying is safe)."""
        method = getattr(client, operation)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.access.attempts),
                wait=wait_exponential_jitter(
                    multiplier=0.2, max=self.access.max_wait_s, jitter=self.access.max_wait_s / 4
                ),
                retry=retry_if_exception(is_transient),
                before_sleep=_log_retry(operation),
                reraise=True,
            ):
                with attempt:
                    reply: dict[str, Any] = await method(**kwargs)
                    return reply
        except (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            message = str(exc)
            if isinstance(exc, ClientError):
                message = str(exc.response.get("Error", {}).get("Message") or message)
            raise AwsUnavailable(operation, _code(exc), message[:300]) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _log_retry(operation: str) -> Any:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "aws_call_retried",
            operation=operation,
            attempt=state.attempt_number,
            error_code=_code(exc) if exc else None,
            wait_s=round(state.next_action.sleep, 2) if state.next_action else None,
        )

    return before_sleep
