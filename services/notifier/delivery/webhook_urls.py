"""Where a receiver's webhook URL comes from: the settings, or a Parameter Store SecureString
read with aioboto3 (decrypted, cached for a while, read again when the receiver says the URL is
gone). The URL is held as a SecretStr and never logged; errors name the parameter, never its
value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aioboto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from services.notifier.errors import WebhookUrlUnavailable

log = structlog.get_logger("notifier.webhook_urls")


class UrlSource(Protocol):
    async def resolve(self) -> SecretStr | None:
        """The URL to post to; None: none is configured."""

    async def refresh(self) -> SecretStr | None:
        """Read the URL again, bypassing any cache (the receiver refused the old one)."""


@dataclass(frozen=True)
class StaticUrl:
    url: SecretStr | None

    async def resolve(self) -> SecretStr | None:
        return self.url

    async def refresh(self) -> SecretStr | None:
        return self.url


@dataclass(frozen=True)
class AwsAccess:
    region: str
    endpoint_url: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    timeout_s: float = 5.0


class ParameterStoreUrl:
    """A URL in an SSM SecureString, with ``fallback`` when the parameter does not exist."""

    def __init__(
        self,
        aws: AwsAccess,
        name: str,
        *,
        fallback: SecretStr | None,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aws = aws
        self.name = name
        self.fallback = fallback
        self.ttl_s = ttl_s
        self.clock = clock
        self.reads = 0
        self._cached: tuple[float, SecretStr | None] | None = None
        self._session = aioboto3.Session(
            aws_access_key_id=_plain(aws.access_key_id),
            aws_secret_access_key=_plain(aws.secret_access_key),
            region_name=aws.region,
        )
        self._config = Config(
            retries={"total_max_attempts": 2, "mode": "standard"},
            connect_timeout=aws.timeout_s,
            read_timeout=aws.timeout_s,
        )

    async def resolve(self) -> SecretStr | None:
        if self._cached is not None and self.clock() - self._cached[0] < self.ttl_s:
            return self._cached[1]
        return await self._read()

    async def refresh(self) -> SecretStr | None:
        return await self._read()

    async def _read(self) -> SecretStr | None:
        self.reads += 1
        try:
            reply = await self._get_parameter()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            if code == "ParameterNotFound":
                log.info("webhook_parameter_missing", parameter=self.name)
                self._cached = (self.clock(), self.fallback)
                return self.fallback
            return self._after_failure(code)
        except (BotoCoreError, OSError, TimeoutError) as exc:
            return self._after_failure(type(exc).__name__)
        value = SecretStr(str(reply["Parameter"]["Value"]).strip())
        self._cached = (self.clock(), value)
        return value

    async def _get_parameter(self) -> dict[str, Any]:
        async with self._session.client(
            "ssm", endpoint_url=self.aws.endpoint_url, config=self._config
        ) as ssm:
            reply: dict[str, Any] = await ssm.get_parameter(Name=self.name, WithDecryption=True)
            return reply

    def _after_failure(self, code: str) -> SecretStr | None:
        """Parameter Store failing: the last value read, else the settings' URL, else give up."""
        log.warning("webhook_parameter_unreadable", parameter=self.name, error=code)
        if self._cached is not None:
            return self._cached[1]
        if self.fallback is not None:
            return self.fallback
        raise WebhookUrlUnavailable(f"parameter {self.name} unreadable: {code}")


def _plain(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
