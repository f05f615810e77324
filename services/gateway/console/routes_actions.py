"""What the console's buttons do: each is the public API's own route (same role, same
per-key budget, same backend call, the actor named from the key), behind a CSRF-checked form.

After an action the browser is sent back (303) to the page it came from, which shows what the
service answered."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.gateway.backend_reply import BackendReply
from services.gateway.console.calls import ConsoleCalls
from services.gateway.console.guard import (
    CONSOLE,
    ConsoleUser,
    Refused,
    User,
    field,
    posted_form,
    safe_back_to,
    session_store,
)
from services.gateway.console.rendering import redirect

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
HEX_ID = re.compile(r"^[0-9a-f]{32}\Z")
WINDOW_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}\Z")
# Both forms' "For": numbers each with its unit (30m, 2h, 1h30m, 1d); a bare number is
# refused rather than read as seconds (a window "For 90" would end 90 seconds later).
DURATION = re.compile(r"^(?:\d{1,4}[smhd]){1,4}\Z")
DURATION_PART = re.compile(r"(\d+)([smhd])")
DURATION_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise Refused(404, f"no such {what}")
    return value


async def _done(
    request: Request,
    user: ConsoleUser,
    form: FormData,
    default: str,
    reply: BackendReply,
    done: str,
) -> Response:
    """Tell the user what happened on the next page, and go back there."""
    store = session_store(request)
    if reply.ok:
        detail = reply.body.get("detail") if isinstance(reply.body, dict) else None
        await store.flash(user.session, "ok", detail if isinstance(detail, str) else done)
    else:
        await store.flash(
            user.session, "error", f"Not done ({reply.status}): {reply.problem_detail()}"
        )
    back = form.get("back")
    return redirect(safe_back_to(back if isinstance(back, str) else default))


@router.post("/approvals/{approval_id}/{decision}")
async def decide(approval_id: str, decision: str, request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    if decision not in ("approve", "reject"):
        raise Refused(404, "no such decision")
    _checked(approval_id, HEX_ID, "approval")
    reply = await ConsoleCalls(request, user).act(
        "POST",
        f"/remediation/approvals/{{approval_id}}/{decision}",
        f"/remediation/approvals/{approval_id}/{decision}",
        {"comment": field(form, "comment")},
    )
    return await _done(request, user, form, f"{CONSOLE}/approvals", reply, f"{decision}d")


def _duration(duration: str) -> str:
    if not DURATION.match(duration):
        raise Refused(400, "duration: a number and a unit, e.g. 30m, 2h, 1h30m or 1d")
    return duration


def _seconds(duration: str) -> int:
    parts = DURATION_PART.findall(_duration(duration))
    return sum(int(number) * DURATION_S[unit] for number, unit in parts)


@router.post("/silences")
async def add_silence(request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    matchers = {
        # Typed, never defaulted: an empty form must not silence every resource.
        "resource": field(form, "resource", required=True, max_chars=300),
        "metric": field(form, "metric", max_chars=200) or "*",
    }
    body = {
        "matchers": matchers,
        "duration_s": _seconds(field(form, "duration", required=True, max_chars=16)),
        "comment": field(form, "comment"),
    }
    reply = await ConsoleCalls(request, user).act(
        "POST", "/notifications/silences", "/notifications/silences", body
    )
    return await _done(request, user, form, f"{CONSOLE}/silences", reply, "silenced")


@router.post("/silences/{silence_id}/end")
async def end_silence(silence_id: str, request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    _checked(silence_id, HEX_ID, "silence")
    reply = await ConsoleCalls(request, user).act(
        "DELETE", "/notifications/silences/{silence_id}", f"/notifications/silences/{silence_id}"
    )
    return await _done(request, user, form, f"{CONSOLE}/silences", reply, "silence ended")


@router.post("/breaker/reset")
async def reset_breaker(request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    reply = await ConsoleCalls(request, user).act(
        "POST", "/remediation/breaker/reset", "/remediation/breaker/reset", {}
    )
    return await _done(request, user, form, f"{CONSOLE}/safety", reply, "breaker closed")


@router.post("/maintenance")
async def add_window(request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    body = {
        "target_pattern": field(form, "target_pattern", required=True, max_chars=256),
        "duration": _duration(field(form, "duration", required=True, max_chars=16)),
        "reason": field(form, "reason"),
    }
    reply = await ConsoleCalls(request, user).act(
        "POST", "/remediation/maintenance", "/remediation/maintenance", body
    )
    return await _done(request, user, form, f"{CONSOLE}/safety", reply, "window added")


@router.post("/maintenance/{window_id}/end")
async def end_window(window_id: str, request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    _checked(window_id, WINDOW_ID, "maintenance window")
    reply = await ConsoleCalls(request, user).act(
        "DELETE",
        "/remediation/maintenance/{window_id}",
        f"/remediation/maintenance/{window_id}",
    )
    return await _done(request, user, form, f"{CONSOLE}/safety", reply, "window ended")


@router.post("/rules/{rule}/auto-shadow/reset")
async def reset_auto_shadow(rule: str, request: Request, user: User) -> Response:
    form = await posted_form(request, user)
    _checked(rule, RULE_NAME, "rule")
    reply = await ConsoleCalls(request, user).act(
        "POST", "/rules/{rule}/auto-shadow/reset", f"/rules/{rule}/auto-shadow/reset", {}
    )
    return await _done(request, user, form, f"{CONSOLE}/rules", reply, f"{rule} back to its mode")
