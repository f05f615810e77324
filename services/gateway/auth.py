"""Who is calling, and may they do this: API keys with roles.

A key is sent as ``X-API-Key: scops_...`` or ``Authorization: Bearer scops_...`` (what
Alertmanager's ``http_config`` sends). No key or a bad key: 401; a key whose role does not
allow the endpoint: 403. Nothing else happens in either case.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.acting import act_as
from services.gateway.keys import KeyStore, Role
from services.gateway.people import People
from services.gateway.ratelimit import RateLimiter

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="scops_... key")
bearer = HTTPBearer(auto_error=False, description="the same key as a bearer token")


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    person: str = ""  # who the key's owner is (services.gateway.people): approvals count it

    @property
    def actor(self) -> str:
        """How the caller is named in records (who approved, who executed)."""
        return f"{self.name} (key {self.key_id})"


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)] = None,
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    ) -> Principal:
        given = api_key or (token.credentials if token else None)
        if not given:
            raise HTTPException(
                401,
                "an API key is required (X-API-Key header or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        keys: KeyStore = request.app.state.keys
        key = await keys.verify(given)
        if key is None:
            raise HTTPException(
                401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        if not key.allows(role):
            raise HTTPException(403, f"a {key.role} key may not do this: it needs {role}")
        structlog.contextvars.bind_contextvars(api_key_id=key.key_id)
        principal = Principal(
            key.key_id, key.name, key.role, people_of(request).of_key_owner(key.person_owner)
        )
        act_as(principal.person)
        return principal

    return check


def people_of(request: Request) -> People:
    """``SCOPS_PEOPLE`` as read once per app (validated with the settings)."""
    people: People | None = getattr(request.app.state, "people", None)
    if people is None:
        people = People(request.app.state.settings.people)
        request.app.state.people = people
    return people


def limited(limiter_attr: str, role: Role) -> Callable[..., Awaitable[Principal]]:
    """``require(role)`` plus the per-key rate limit kept in ``app.state.<limiter_attr>``."""
    authenticate = require(role)

    async def check(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        limiter: RateLimiter = getattr(request.app.state, limiter_attr)
        wait = await limiter.hit(principal.key_id)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit of {limiter.per_minute} requests a minute reached for this key",
                headers={"Retry-After": str(wait)},
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Ingest = Annotated[Principal, Depends(limited("ingest_limiter", Role.INGEST))]
ChatUser = Annotated[Principal, Depends(limited("chatops_limiter", Role.VIEWER))]
