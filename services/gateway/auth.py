"""Who is calling, and may they do this: API keys with roles.

A key is sent as ``X-API-Key: scops_...`` or ``Authorization: Bearer scops_...`` (what
Alertmanager's ``http_config`` sends). No key or a bad key: 401; a key whose role does not
allow the endpoint: 403. Nothing else happens in either case, and a body FastAPI cannot parse
does not change that (:func:`authenticate_before_body`): a caller without a key learns nothing
about what the endpoint would accept.
"""

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.acting import act_as
from services.gateway.api_keys import ApiKey, KeyStore, Role, key_of
from services.gateway.deps import gateway
from services.gateway.people import People
from services.gateway.ratelimit import WINDOW_TTL_S, RateLimiter
from shared.events import PERSON_MAX
from shared.web import DECLARED_CODING, UNREADABLE_BODY

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="scops_... key")
bearer = HTTPBearer(auto_error=False, description="the same key as a bearer token")


ACTOR_MAX = 128  # the services' ``by`` and ``created_by`` fields


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    person: str = ""  # who the key's owner is (services.gateway.people): approvals count it

    @property
    def sender(self) -> str | None:
        """The person named as sending what this key sends (``sent_by``): as much of it as the
        remediator keeps of whoever approves, so the two compare equal."""
        return self.person.strip()[:PERSON_MAX] or None

    @property
    def actor(self) -> str:
        """How the caller is named in records (who approved, who executed): at most
        ``ACTOR_MAX`` characters, as the services' ``by`` fields take, however long the key's
        name (a longer name is shortened, its id always kept)."""
        suffix = f" (key {self.key_id})"
        room = ACTOR_MAX - len(suffix)
        name = self.name if len(self.name) <= room else self.name[: room - 1] + "…"
        return name + suffix


AUTHENTICATED = "scops_principal"  # request.state: the caller, once its key was checked


def _presented_key(request: Request) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer`` (None: neither)."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def _key_required() -> HTTPException:
    return HTTPException(
        401,
        "an API key is required (X-API-Key header or Authorization: Bearer)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _admitted(request: Request, key: ApiKey | None, role: Role) -> Principal:
    """The caller holding ``key`` (None: no valid key), if it may act as ``role``."""
    if key is None:
        raise HTTPException(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if not key.allows(role):
        raise HTTPException(403, f"{key_of(key.role)} may not do this: it needs {role}")
    return Principal(
        key.key_id, key.name, key.role, people_of(request).of_key_owner(key.person_owner)
    )


async def authenticate(request: Request, given: str | None, role: Role) -> Principal:
    """The caller presenting ``given``, if it may act as ``role`` (else 401 or 403)."""
    if not given:
        raise _key_required()
    keys: KeyStore = gateway(request).keys
    return _admitted(request, await keys.verify(given), role)


async def authenticate_counted(
    request: Request, given: str | None, role: Role, limiter: RateLimiter
) -> Principal:
    """:func:`authenticate`, and the request counted against the key's limit (429 past it),
    in one round trip to Redis. Only a request the key may make is counted."""
    if not given:
        raise _key_required()
    keys: KeyStore = gateway(request).keys
    now = time.time()
    key, count = await keys.verify_and_count(
        given, role, lambda key_id: limiter.window_key(key_id, now), WINDOW_TTL_S
    )
    principal = _admitted(request, key, role)
    # 0: Redis judged the record otherwise than this process (one it could not read as
    # JSON): count the request the plain way rather than let it through uncounted.
    wait = limiter.wait_after(count, now) if count else await limiter.hit(principal.key_id)
    if wait is not None:
        raise HTTPException(
            429,
            f"rate limit of {limiter.per_minute} requests a minute reached for this key",
            headers={"Retry-After": str(wait)},
        )
    return principal


def _acting(request: Request, principal: Principal) -> Principal:
    """Remember who the caller is, for the request's logs and records."""
    setattr(request.state, AUTHENTICATED, principal)
    structlog.contextvars.bind_contextvars(api_key_id=principal.key_id)
    act_as(principal.person, "api_key")
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)] = None,
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    ) -> Principal:
        given = api_key or (token.credentials if token else None)
        return _acting(request, await authenticate(request, given, role))

    check.required_role = role  # type: ignore[attr-defined] # read by authenticate_before_body
    return check


def _required_role(dependant: Dependant) -> Role | None:
    for dependency in dependant.dependencies:
        role = getattr(dependency.call, "required_role", None)
        if isinstance(role, Role):
            return role
        role = _required_role(dependency)
        if role is not None:
            return role
    return None


def authenticate_before_body(app: FastAPI) -> None:
    """Answer 401 or 403, not 400, to a caller whose body FastAPI could not parse: FastAPI
    reads and parses the JSON body before it runs any dependency, so the key check of a route
    would come too late. When a request is refused as malformed (or otherwise invalid) before
    its route's key check ran, the key is checked first; only a caller who passes it learns
    what was wrong with the body. Call once, after the problem handlers are set up."""
    answer_invalid = app.exception_handlers[RequestValidationError]
    answer_refused = app.exception_handlers[StarletteHTTPException]

    async def refusal(request: Request) -> Response | None:
        """The 401/403 of a caller the route's key check would refuse (None: it passes)."""
        route = request.scope.get("route")
        role = _required_role(route.dependant) if isinstance(route, APIRoute) else None
        if role is None or isinstance(getattr(request.state, AUTHENTICATED, None), Principal):
            return None
        try:
            await authenticate(request, _presented_key(request), role)
        except HTTPException as refused:
            return await _call(answer_refused, request, refused)
        return None

    async def key_first(request: Request, exc: Exception) -> Response:
        return await refusal(request) or await _call(answer_invalid, request, exc)

    async def key_before_unreadable(request: Request, exc: Exception) -> Response:
        # A body FastAPI's reader gave up on (not UTF-8, nested past the recursion limit) is
        # an HTTPException, not a validation error, and is raised before any dependency too;
        # so is a body declared compressed (an app-wide dependency, run before the route's).
        assert isinstance(exc, StarletteHTTPException)
        about_body = exc.detail in (UNREADABLE_BODY, DECLARED_CODING)
        answer = await refusal(request) if about_body else None
        return answer or await _call(answer_refused, request, exc)

    app.add_exception_handler(RequestValidationError, key_first)
    app.add_exception_handler(StarletteHTTPException, key_before_unreadable)


async def _call(handler: Callable[..., Any], request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def people_of(request: Request) -> People:
    """``SCOPS_PEOPLE`` as read once per app (validated with the settings)."""
    return gateway(request).people


def limited(limiter_attr: str, role: Role) -> Callable[..., Awaitable[Principal]]:
    """``require(role)`` plus the per-key rate limit the gateway keeps as ``<limiter_attr>``."""

    async def check(
        request: Request,
        api_key: Annotated[str | None, Security(api_key_header)] = None,
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    ) -> Principal:
        given = api_key or (token.credentials if token else None)
        limiter: RateLimiter = getattr(gateway(request), limiter_attr)
        return _acting(request, await authenticate_counted(request, given, role, limiter))

    check.required_role = role  # type: ignore[attr-defined] # read by authenticate_before_body
    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Ingest = Annotated[Principal, Depends(limited("ingest_limiter", Role.INGEST))]
ChatUser = Annotated[Principal, Depends(limited("chatops_limiter", Role.VIEWER))]
