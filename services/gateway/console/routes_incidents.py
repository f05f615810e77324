"""Incidents from the durable history: the open ones, and one incident's whole timeline with
the approvals still waiting on it (Approve / Reject right there)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from services.gateway.anomaly_index import AnomalyIndex
from services.gateway.console import query_checks as qc
from services.gateway.console.calls import ConsoleCalls
from services.gateway.console.guard import CONSOLE, Refused, User
from services.gateway.console.rendering import parse_time, redirect
from services.gateway.console.routes_pages import listed, show, unavailable
from services.gateway.deps import gateway
from shared.events import AnomalyEvent

router = APIRouter(prefix=CONSOLE, include_in_schema=False)
PAGE = "50"


def _chosen(params: QueryParams) -> dict[str, str]:
    """The filters asked for, each checked here (a wrong one is a 400 page naming it)."""
    found = {
        "status": qc.one_of(params, "status", qc.INCIDENT_STATUSES),
        "kind": qc.one_of(params, "kind", qc.KINDS),
        "severity": qc.one_of(params, "severity", qc.SEVERITIES),
        "resource_id": qc.text(params, "resource_id"),
        "rule": qc.text(params, "rule", 128),
        "action": qc.text(params, "action", 128),
        "outcome": qc.one_of(params, "outcome", qc.OUTCOMES),
        "cursor": qc.incident_cursor(params),
    }
    chosen = {name: value for name, value in found.items() if value is not None}
    if "status" not in params:
        chosen["status"] = "open"
    return chosen


@router.get("/incidents")
async def incidents(request: Request, user: User) -> Response:
    chosen = _chosen(request.query_params)
    calls = ConsoleCalls(request, user)
    params = {k: v for k, v in chosen.items() if v != "any"}
    reply = await calls.read("history", "/incidents", {**params, "limit": PAGE})
    if reply.status in (400, 422):  # what the history refused that this page let through
        raise Refused(400, reply.problem_detail())
    body = reply.body if reply.ok and isinstance(reply.body, dict) else {}
    return await show(
        request,
        user,
        "incidents.html",
        {
            "title": "Incidents",
            "incidents": body.get("items") or [],
            "next_cursor": body.get("next_cursor"),
            "filters": chosen,
            "history_configured": calls.has("history"),
            "problems": unavailable(("history", reply)) if calls.has("history") else [],
        },
    )


def _waiting_on(incident: dict[str, Any], approvals: list[Any]) -> list[dict[str, Any]]:
    """The pending approvals of this incident: named in its timeline, or asked for its
    anomaly."""
    named = {
        str(entry.get("detail", {}).get("approval_id"))
        for entry in incident.get("timeline") or []
        if isinstance(entry, dict) and isinstance(entry.get("detail"), dict)
    }
    mine = []
    for approval in approvals:
        if not isinstance(approval, dict):
            continue
        request = approval.get("request")
        incident_of = request.get("incident") if isinstance(request, dict) else None
        asked_for = incident_of.get("anomaly_id") if isinstance(incident_of, dict) else None
        if approval.get("id") in named or str(asked_for) == str(incident.get("id")):
            mine.append(approval)
    return mine


async def _episode_opener(request: Request, anomaly_id: uuid.UUID) -> uuid.UUID | None:
    """The incident an escalation belongs to, before the history has recorded it: an
    incident is named by the event that opened its episode, and a link (an approval's, an
    alert's) may name a later event of it."""
    index: AnomalyIndex = gateway(request).anomaly_index
    item = await index.get(str(anomaly_id))
    started = parse_time(item.get("episode_started_at")) if item else None
    if item is None or started is None:
        return None
    opener = AnomalyEvent.derive_id(str(item["resource_id"]), str(item["metric"]), started)
    return opener if opener != anomaly_id else None


@router.get("/incidents/{incident_id}")
async def incident(incident_id: str, request: Request, user: User) -> Response:
    try:
        wanted = uuid.UUID(incident_id)
    except ValueError:
        raise Refused(404, "no such incident") from None
    calls = ConsoleCalls(request, user)
    reply, approvals = await asyncio.gather(
        calls.read("history", f"/incidents/{wanted}"),
        calls.read("remediator", "/remediation/approvals"),
    )
    if reply.status == 404:
        opener = await _episode_opener(request, wanted)
        if opener is not None:
            return redirect(f"{CONSOLE}/incidents/{opener}")
        raise Refused(404, f"no incident {wanted} in the history")
    found: dict[str, Any] = reply.body if reply.ok and isinstance(reply.body, dict) else {}
    if found.get("id") and str(found["id"]) != str(wanted):  # the history knew the event's
        return redirect(f"{CONSOLE}/incidents/{found['id']}")
    return await show(
        request,
        user,
        "incident.html",
        {
            "title": f"Incident {found.get('resource_id', wanted)}",
            "incident": found,
            "incident_id": str(wanted),
            "approvals": _waiting_on(found, listed(approvals)) if found else [],
            "problems": unavailable(("history", reply), ("remediator", approvals)),
        },
    )
