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

from shared.aws_retry import call_with_retries, error_code

log = structlog.get_logger("collector.aws")

# Assumed credentials are renewed this long before they expire.
RENEW_BEFORE = timedelta(minutes=5)
ROLE_SESSION_SECONDS = 3600


class AwsUnavailable(Exception):
    """An AWS call failed for good (a permanent error, or a transient one past every retry)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code


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
            return await call_with_retries(
                lambda: method(**kwargs),
                operation=operation,
                attempts=self.access.attempts,
                max_wait_s=self.access.max_wait_s,
                log=log,
            )
        except (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            message = str(exc)
            if isinstance(exc, ClientError):
                message = str(exc.response.get("Error", {}).get("Message") or message)
            raise AwsUnavailable(operation, error_code(exc), message[:300]) from exc
