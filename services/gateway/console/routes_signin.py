"""Signing in with an API key (exchanged for a session cookie) and signing out.

The sign-in form is protected against login CSRF by a double-submit token: the page sets a
short-lived cookie and puts the same random value in the form; a post without both, equal, is
refused. The session cookie is HttpOnly, SameSite=Lax (a link from Slack opens the page
signed in; no other site can post a form with it), Secure when served over TLS, and scoped to
``/console``.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.api_keys import KeyStore, Role, key_of
from services.gateway.config import GatewaySettings
from services.gateway.console.guard import (
    CONSOLE,
    SESSION_COOKIE,
    NotSignedIn,
    Refused,
    User,
    field,
    posted_form,
    read_form,
    safe_back_to,
    session_store,
    signed_in,
)
from services.gateway.console.rendering import page, redirect
from services.gateway.deps import gateway
from services.gateway.ratelimit import RateLimiter

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
SIGN_IN_COOKIE = "scops_console_signin"
SIGN_IN_FORM_TTL_S = 1800
SIGN_IN_ATTEMPTS_PER_MIN = 30
MAX_KEY_CHARS = 200


def _over_tls(request: Request) -> bool:
    """Whether the browser reached the console over TLS, so its cookies are ``Secure``. TLS
    usually ends at an ingress, which says so in ``X-Forwarded-Proto``; that header is
    believed from anyone here, since the worst a false one does is keep a cookie off plain
    HTTP (its sender's own session then does not work over it)."""
    settings: GatewaySettings = gateway(request).settings
    public = settings.console_public_url or ""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https" or public.startswith("https://")


def _sign_in_page(
    request: Request, status: int = 200, error: str | None = None, back_to: str | None = None
) -> Response:
    """The form; ``back_to`` (else the query's ``next``) is where a sign-in leads, so a
    mistyped key does not lose the page asked for."""
    token = secrets.token_urlsafe(32)
    back_to = safe_back_to(back_to if back_to is not None else request.query_params.get("next"))
    response = page(
        request,
        "sign_in.html",
        {"title": "Sign in", "form_token": token, "next": back_to, "error": error},
        status=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=SIGN_IN_FORM_TTL_S,
        path=CONSOLE,
        httponly=True,
        secure=_over_tls(request),
        samesite="strict",
    )
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    try:
        await signed_in(request)
    except NotSignedIn:
        return _sign_in_page(request)
    return redirect(safe_back_to(request.query_params.get("next")))


async def _failed(request: Request, status: int, message: str, back_to: str | None) -> Response:
    """A sign-in that opened no session: counted against the client address's budget (a
    valid key is never refused for others' failures: behind an ingress every browser may
    share one address), told as it is, or as too many attempts once the budget is spent."""
    client = request.client.host if request.client else "unknown"
    attempts = RateLimiter(gateway(request).redis, "console-sign-in", SIGN_IN_ATTEMPTS_PER_MIN)
    wait = await attempts.hit(client)
    if wait is None:
        return _sign_in_page(request, status, message, back_to)
    refused = _sign_in_page(
        request, 429, f"Too many failed sign-in attempts: try again in {wait} seconds.", back_to
    )
    refused.headers["Retry-After"] = str(wait)
    return refused


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    asked = form.get("next")
    back_to = asked if isinstance(asked, str) else None
    given = form.get("form_token")
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not (
        isinstance(given, str)
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        return await _failed(
            request,
            403,
            "The sign-in form expired or did not come from this page: try again.",
            back_to,
        )
    try:
        presented = field(form, "api_key", required=True, max_chars=MAX_KEY_CHARS)
    except Refused as refused:
        return await _failed(request, refused.status, "Paste an API key (scops_...).", back_to)
    keys: KeyStore = gateway(request).keys
    key = await keys.verify(presented)
    if key is None:
        return await _failed(request, 401, "That API key is not valid (or was revoked).", back_to)
    if not key.allows(Role.VIEWER):
        return await _failed(
            request,
            403,
            f"{key_of(key.role).capitalize()} cannot open the console: "
            "use a viewer, operator or admin key.",
            back_to,
        )
    token, _ = await session_store(request).open(key.key_id)
    response = redirect(safe_back_to(back_to))
    settings: GatewaySettings = gateway(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.console_session_ttl_s,
        path=CONSOLE,
        httponly=True,
        secure=_over_tls(request),
        samesite="lax",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=CONSOLE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, user: User) -> Response:
    await posted_form(request, user)
    await session_store(request).close(user.session)
    response = redirect(f"{CONSOLE}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE, httponly=True, samesite="lax")
    return response
