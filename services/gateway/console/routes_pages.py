"""The console's read-only pages: overview, approvals, silences, safety, rules, anomalies."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.anomaly_index import AnomalyIndex, Query
from services.gateway.backend_reply import BackendReply
from services.gateway.console import query_checks as qc
from services.gateway.console.calls import ConsoleCalls
from services.gateway.console.guard import CONSOLE, ConsoleUser, User, session_store
from services.gateway.console.rendering import page, redirect
from services.gateway.deps import gateway
from shared.events import Severity

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
RECENT_ANOMALIES = 20
ANOMALY_PAGE = 100


async def show(
    request: Request, user: ConsoleUser, template: str, context: dict[str, Any]
) -> Response:
    """A page for ``user``, with the message their last action left."""
    flash = await session_store(request).take_flash(user.session)
    return page(request, template, context, user=user, flash=flash)


def listed(reply: BackendReply) -> list[Any]:
    return reply.body if reply.ok and isinstance(reply.body, list) else []


def unavailable(*replies: tuple[str, BackendReply]) -> list[str]:
    """Why parts of a page are missing: one line per service that did not answer."""
    return [f"{name}: {reply.problem_detail()}" for name, reply in replies if not reply.ok]


async def recent_anomalies(
    request: Request,
    limit: int,
    resource_id: str | None = None,
    min_severity: str = "normal",
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """From the gateway's own anomaly index, as ``GET /anomalies`` answers: a page, and the
    cursor of the next one (None when no more match)."""
    index: AnomalyIndex = gateway(request).anomaly_index
    query = Query(
        resource_id=resource_id, min_severity=Severity(min_severity), limit=limit, cursor=cursor
    )
    items, next_cursor = await index.query(query)
    if next_cursor is not None and items:
        # The index gives a cursor whenever a page is full: say "more" only if more match.
        more, _ = await index.query(replace(query, limit=1, cursor=next_cursor))
        next_cursor = next_cursor if more else None
    return items, next_cursor


@router.get("")
async def console_root() -> Response:
    """``/console`` as people type it: the overview is ``/console/``."""
    return redirect(f"{CONSOLE}/")


@router.get("/")
async def overview(request: Request, user: User) -> Response:
    calls = ConsoleCalls(request, user)
    status, approvals, silences, incidents, (anomalies, _) = await asyncio.gather(
        calls.read("remediator", "/remediation/status"),
        calls.read("remediator", "/remediation/approvals"),
        calls.read("notifier", "/notifications/silences"),
        calls.read("history", "/incidents", {"status": "open", "limit": "10"}),
        recent_anomalies(request, RECENT_ANOMALIES),
    )
    remediator = status.body if status.ok and isinstance(status.body, dict) else {}
    return await show(
        request,
        user,
        "overview.html",
        {
            "title": "Overview",
            "remediator": remediator,
            "approvals": listed(approvals),
            "silences": listed(silences),
            "incidents": _items(incidents),
            "more_incidents": isinstance(incidents.body, dict)
            and bool(incidents.body.get("next_cursor")),
            "history_configured": calls.has("history"),
            "anomalies": anomalies,
            "problems": unavailable(
                ("remediator", status), ("notifier", silences), *_optional("history", incidents)
            ),
        },
    )


def _items(reply: BackendReply) -> list[Any]:
    if reply.ok and isinstance(reply.body, dict):
        items = reply.body.get("items")
        return items if isinstance(items, list) else []
    return []


def _optional(name: str, reply: BackendReply) -> list[tuple[str, BackendReply]]:
    """A service the gateway may run without: missing is not a problem worth a banner."""
    return [] if reply.status == 503 and "configured" in reply.problem_detail() else [(name, reply)]


@router.get("/approvals")
async def approvals(request: Request, user: User) -> Response:
    reply = await ConsoleCalls(request, user).read("remediator", "/remediation/approvals")
    return await show(
        request,
        user,
        "approvals.html",
        {
            "title": "Approvals",
            "approvals": listed(reply),
            "problems": unavailable(("remediator", reply)),
        },
    )


@router.get("/silences")
async def silences(request: Request, user: User) -> Response:
    reply = await ConsoleCalls(request, user).read("notifier", "/notifications/silences")
    now = time.time()
    return await show(
        request,
        user,
        "silences.html",
        {
            "title": "Silences",
            "silences": listed(reply),
            "now": now,
            "problems": unavailable(("notifier", reply)),
        },
    )


@router.get("/safety")
async def safety(request: Request, user: User) -> Response:
    calls = ConsoleCalls(request, user)
    status, windows = await asyncio.gather(
        calls.read("remediator", "/remediation/status"),
        calls.read("remediator", "/remediation/maintenance"),
    )
    remediator = status.body if status.ok and isinstance(status.body, dict) else {}
    return await show(
        request,
        user,
        "safety.html",
        {
            "title": "Breaker and maintenance",
            "remediator": remediator,
            "safety": remediator.get("safety") or {},
            "windows": listed(windows),
            "problems": unavailable(("remediator", status), ("remediator", windows)),
        },
    )


@router.get("/rules")
async def rules(request: Request, user: User) -> Response:
    reply = await ConsoleCalls(request, user).read("remediator", "/rules")
    body = reply.body if reply.ok and isinstance(reply.body, dict) else {}
    return await show(
        request,
        user,
        "rules.html",
        {
            "title": "Rules",
            "loaded": body,
            "rules": body.get("rules") or [],
            "problems": unavailable(("remediator", reply)),
        },
    )


@router.get("/anomalies")
async def anomalies(request: Request, user: User) -> Response:
    params = request.query_params
    resource = qc.text(params, "resource_id")
    severity = (
        qc.one_of(params, "severity", qc.SEVERITIES)
        or qc.one_of(params, "min_severity", qc.SEVERITIES)  # the API's name for it
        or "normal"
    )
    cursor = qc.anomaly_cursor(params)
    items, next_cursor = await recent_anomalies(request, ANOMALY_PAGE, resource, severity, cursor)
    return await show(
        request,
        user,
        "anomalies.html",
        {
            "title": "Anomalies",
            "anomalies": items,
            "next_cursor": next_cursor,
            "paged": cursor is not None,
            "page_size": ANOMALY_PAGE,
            "resource_id": resource or "",
            "min_severity": severity,  # "severity" is the macro that draws one
            "severities": [s.value for s in Severity],
        },
    )
