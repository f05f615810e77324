"""One aioboto3 session per process and AWS calls retried with backoff on transient errors;
for another account, a role assumed there with STS.

botocore's own retries are switched off so that one policy (tenacity, logged) applies.

:meth:`AwsApi.for_account` gives the API of one account and region: the process's own
credentials for its own account, else the role ``SCOPS_AWS_ACCOUNT_ROLES`` maps the account
to, assumed with the own credentials (session name ``scops-remediator``). The assumed
credentials are kept per account, shared by its regions, and renewed 5 minutes before they
expire. An account nobody mapped is refused (``AwsCallError`` with code ``UnknownAccount``),
never called with the own credentials.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aioboto3
import aiohttp
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.remediator.aws.errors import AwsCallError, as_call_error
from services.remediator.config import RemediatorSettings
from services.remediator.core.accounts import AccountRefused, AccountRoles, AwsPlace
from shared.aws_retry import call_with_retries

log = structlog.get_logger("remediator.aws")

ROLE_SESSION_NAME = "scops-remediator"
ROLE_SESSION_S = 3600
RENEW_BEFORE = timedelta(minutes=5)  # assumed credentials are renewed this long before expiry


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
    accounts: AccountRoles = field(default_factory=AccountRoles)

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
            accounts=settings.account_roles,
        )


@dataclass(frozen=True)
class _Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.expires - RENEW_BEFORE


class AssumedRole:
    """One account's role: credentials from STS, assumed with the own credentials, kept until
    5 minutes before they expire. Shared by the account's regions (and threads: two racing
    renewals cost one extra STS call, never a wrong answer)."""

    def __init__(
        self, home: AwsApi, role_arn: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.home = home
        self.role_arn = role_arn
        self.clock = clock or _now
        self.assumed = 0  # how many times STS was asked (tests, logs)
        self._credentials: _Credentials | None = None
        self._lock = threading.Lock()

    async def credentials(self) -> _Credentials:
        with self._lock:
            held = self._credentials
        if held is not None and held.fresh(self.clock()):
            return held
        async with self.home.client("sts") as sts:
            reply = await self.home.call(
                sts,
                "assume_role",
                RoleArn=self.role_arn,
                RoleSessionName=ROLE_SESSION_NAME,
                DurationSeconds=ROLE_SESSION_S,
            )
        given = reply["Credentials"]
        expires = given["Expiration"]
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires)
        fresh = _Credentials(
            given["AccessKeyId"],
            given["SecretAccessKey"],
            given["SessionToken"],
            expires.astimezone(UTC),
        )
        with self._lock:
            self._credentials = fresh
            self.assumed += 1
        log.info("aws_role_assumed", role_arn=self.role_arn, expires=fresh.expires.isoformat())
        return fresh


class AwsApi:
    """Clients for one account and region; :meth:`call` retries transient errors (unless told
    not to: a call that is not idempotent) and raises AwsCallError."""

    def __init__(
        self,
        config: AwsConfig,
        *,
        role: AssumedRole | None = None,
        clock: Callable[[], datetime] | None = None,
        home: AwsApi | None = None,
    ) -> None:
        self.config = config
        self.role = role
        self.home = home or self  # the own account's API, which keeps the others
        self.clock = clock or _now  # when assumed credentials are due for renewal
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
        # Used on the own account's API only: the APIs of other places, and their roles.
        self._places: dict[AwsPlace, AwsApi] = {}
        self._roles: dict[str, AssumedRole] = {}
        self._places_lock = threading.Lock()
        self._assumed_session: tuple[_Credentials, aioboto3.Session] | None = None

    def for_account(self, account: str | None, region: str | None = None) -> AwsApi:
        """The API acting in ``account`` (None: the own one) and ``region`` (None: the
        configured one). Raises AwsCallError (code ``UnknownAccount`` or ``BadRegion``) for a
        place the settings do not allow."""
        if self.home is not self:
            return self.home.for_account(account, region)
        try:
            place = self.config.accounts.place(account, region)
        except AccountRefused as exc:
            code = "UnknownAccount" if exc.check == "unknown_account" else "BadRegion"
            raise AwsCallError("AssumeRole", code, exc.detail, transient=False) from exc
        region = place.region or self.config.region
        if place.account is None and region == self.config.region:
            return self
        key = AwsPlace(place.account, region)
        with self._places_lock:
            api = self._places.get(key)
            if api is None:
                role = None
                if place.account is not None:
                    arn = self.config.accounts.role_for(place.account)
                    assert arn is not None
                    role = self._roles.get(place.account)
                    if role is None:
                        role = AssumedRole(self, arn, self.clock)
                        self._roles[place.account] = role
                api = AwsApi(replace(self.config, region=region), role=role, home=self)
                self._places[key] = api
        return api

    async def _session(self) -> aioboto3.Session:
        if self.role is None:
            return self.session
        credentials = await self.role.credentials()
        held = self._assumed_session
        if held is not None and held[0] is credentials:
            return held[1]
        session = aioboto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            region_name=self.config.region,
        )
        self._assumed_session = (credentials, session)
        return session

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[Any]:
        session = await self._session()
        async with session.client(
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
            return await call_with_retries(
                lambda: method(**kwargs),
                operation=operation,
                attempts=self.config.attempts if retry else 1,
                max_wait_s=self.config.max_wait_s,
                log=log,
            )
        except (ClientError, BotoCoreError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise as_call_error(operation, exc) from exc


def _now() -> datetime:
    return datetime.now(UTC)
