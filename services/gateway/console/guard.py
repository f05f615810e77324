"""Who is signed in to the console, and may they do this.

Every page asks :func:`signed_in`: the session cookie names a session in Redis, the session
names a key, and the key (looked up on every request, never stored in the session) gives the
role and the person, exactly as an ``X-API-Key`` header would. Every form is checked by
:func:`posted_form`: its ``csrf`` field must be the session's synchroniser token.

Errors (handled in :mod:`services.gateway.console.mount`)::

    ConsoleError
     ├── NotSignedIn   no session, an expired one, or its key revoked: to the sign-in page
     └── Refused       an HTML page with a status (403 role or CSRF, 400 bad form, 429 ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote, urlsplit

import structlog
from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.gateway.acting import act_as
from services.gateway.api_keys import GRANTS, KeyStore, Role
from services.gateway.auth import AUTHENTICATED, Principal, people_of
from services.gateway.console.sessions import ConsoleSession, SessionStore
from services.gateway.deps import gateway
from services.gateway.routes_proxy import proxy_budget

CONSOLE = "/console"
SESSION_COOKIE = "scops_console"
MAX_FORM_FIELDS = 20
MAX_FIELD_BYTES = 4096


class ConsoleError(Exception):
    pass


class NotSignedIn(ConsoleError):
    def __init__(self, back_to: str = "") -> None:
        super().__init__("sign in first")
        self.back_to = back_to


class Refused(ConsoleError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ConsoleUser:
    principal: Principal
    session: ConsoleSession

    def may(self, role: Role | str) -> bool:
        return Role(role) in GRANTS[self.principal.role]

    @property
    def csrf(self) -> str:
        return self.session.csrf


def session_store(request: Request) -> SessionStore:
    return SessionStore(gateway(request).redis, gateway(request).settings.console_session_ttl_s)


def safe_back_to(path: str | None) -> str:
    """A console path to return to after signing in (never another site, nor out of the
    console through a ``..`` or ``.`` segment, spelled plainly or percent-encoded)."""
    if (
        path
        and path.startswith(CONSOLE + "/")
        and not path.startswith("//")
        and "\\" not in path
        and not _DOT_SEGMENT.search(unquote(path.split("?", 1)[0]))
    ):
        return path
    return CONSOLE + "/"


_DOT_SEGMENT = re.compile(r"/\.{1,2}(?:/|$)")


async def signed_in(request: Request) -> ConsoleUser:
    store = session_store(request)
    session = await store.find(request.cookies.get(SESSION_COOKIE))
    back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if session is None:
        raise NotSignedIn(back_to)
    keys: KeyStore = gateway(request).keys
    key = await keys.get(session.key_id)
    if key is None or not key.allows(Role.VIEWER):  # revoked, or an ingest key
        await store.close(session)
        raise NotSignedIn(back_to)
    person = people_of(request).of_key_owner(key.person_owner)
    principal = Principal(key.key_id, key.name, key.role, person)
    setattr(request.state, AUTHENTICATED, principal)
    structlog.contextvars.bind_contextvars(api_key_id=principal.key_id)
    if request.method == "GET" and not await store.take_paid_page(session):
        # (the page an action leads back to is the action's, counted with it)
        await _count_page(request, principal)
    act_as(principal.person, "console")
    return ConsoleUser(principal, session)


async def _count_page(request: Request, principal: Principal) -> None:
    """A page shown counts once against the key's per-minute budget of forwarded requests
    (``SCOPS_PROXY_RATE_PER_MIN``, shared with the API): a page asks the services the API's
    questions (several at once), and a key the API stops must not go on through the console.
    Its buttons count as the API's calls do (:mod:`.calls`)."""
    budget = proxy_budget(request)
    wait = await budget.hit(principal.key_id)
    if wait is not None:
        raise Refused(
            429,
            f"rate limit of {budget.per_minute} requests a minute reached for this key: "
            f"try again in {wait} s",
        )


User = Annotated[ConsoleUser, Depends(signed_in)]


async def read_form(request: Request) -> FormData:
    """The posted form, bounded, and posted from the console's own pages (a 403 page
    otherwise); a body that is not a readable form is a 400 page."""
    if (elsewhere := _posted_from_elsewhere(request)) is not None:
        raise Refused(
            403, f"this form was posted from {elsewhere}, not this console; nothing was done"
        )
    try:
        return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # multipart parse errors have no common base worth naming
        if getattr(exc, "status_code", 400) == 413:
            raise Refused(413, "the form is larger than the gateway accepts") from None
        raise Refused(400, "the form could not be read; reload the page and try again") from None


def _posted_from_elsewhere(request: Request) -> str | None:
    """Where a form came from when that is not the console's own origin, as the browser
    says it (``Sec-Fetch-Site``, ``Origin``); None when it is, or when the client says
    nothing (not a browser). The tokens of the forms stop other sites' posts; this also stops
    one from a sibling subdomain that planted its own sign-in cookie and token (login
    CSRF: the victim signed in as the attacker, their approvals recorded as the attacker's)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return f"another site ({site})"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = urlsplit(origin).netloc.lower() if origin != "null" else ""
    ours = {request.headers.get("host", "").lower()}
    public = gateway(request).settings.console_public_url
    if public:
        ours.add(urlsplit(public).netloc.lower())
    if not host or host not in ours:
        return f"another origin ({origin[:100]})"
    return None


def field(form: FormData, name: str, *, required: bool = False, max_chars: int = 500) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise Refused(400, f"{name}: required")
    if len(text) > max_chars:
        raise Refused(400, f"{name}: at most {max_chars} characters")
    return text


async def posted_form(request: Request, user: ConsoleUser) -> FormData:
    """The form of a console action, once its CSRF token is this session's (else 403)."""
    form = await read_form(request)
    token = form.get("csrf")
    if not user.session.csrf_matches(token if isinstance(token, str) else None):
        raise Refused(
            403,
            "this form was not sent by your console session (missing or wrong CSRF token); "
            "nothing was done. Reload the page and try again.",
        )
    return form
