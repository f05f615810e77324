"""The public endpoints that belong to other services, each with the role it needs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.gateway.api_keys import Role
from services.gateway.auth import Principal, require
from services.gateway.config import GatewaySettings
from services.gateway.deps import gateway
from services.gateway.proxy import Backends
from services.gateway.ratelimit import RateLimiter
from shared.query_names import refuse_unknown_names
from shared.web import problem_responses


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str
    role: Role
    summary: str
    example: dict[str, Any] | None = None  # a JSON body is taken when given
    query: tuple[str, ...] = field(default=())
    # The body field naming who acts: set by the gateway from the caller's key, so nobody
    # can approve or silence in someone else's name.
    actor_field: str | None = None
    # Costly for the backend (seconds of CPU): counted against the smaller per-key budget.
    costly: bool = False
    # What the backend answers, for the documentation: its success status and the problems
    # of its own (beyond those every forwarded route may answer, see ``FORWARDED_PROBLEMS``).
    status: int = 200
    problems: tuple[int, ...] = field(default=())
    # Media types of a success answer that is not JSON (a file), for the documentation.
    content: tuple[str, ...] = field(default=())
    # The service reads a request without a body (or with ``null``) as its defaults: so does
    # the gateway (who acts is still its caller).
    body_optional: bool = False


SAMPLE = {"resource_id": "web-1", "metric": "cpu_utilization", "value": 97.5}
ANOMALY = {
    "resource_id": "web-1",
    "metric": "cpu_utilization",
    "severity": "critical",
    "value": 97.5,
}
AUDIT_QUERY = (
    "status",
    "action",
    "resource_id",
    "rule",
    "anomaly_id",
    "blocked_by",
    "since",
    "until",
    "limit",
    "cursor",
)
#: Query parameters a backend reads as a list (repeat the name for several values).
REPEATABLE_QUERY = frozenset({"severity"})
INCIDENT_QUERY = (
    "resource_id",
    "severity",
    "status",
    "kind",
    "since",
    "until",
    "rule",
    "action",
    "outcome",
)
EXPORT_MEDIA = ("application/x-ndjson", "text/csv")
ROUTES: tuple[Route, ...] = (
    # detector
    Route(
        "POST",
        "/anomaly",
        "detector",
        Role.VIEWER,
        "Score one sample or a short series",
        SAMPLE,
        problems=(413, 503),
    ),
    Route(
        "POST",
        "/anomaly/batch",
        "detector",
        Role.VIEWER,
        "Score several series",
        {"requests": [SAMPLE]},
        costly=True,
        problems=(413, 503),
    ),
    Route("GET", "/anomaly/status", "detector", Role.VIEWER, "Detector models and series"),
    Route(
        "POST",
        "/anomaly/train",
        "detector",
        Role.ADMIN,
        "Train the multivariate model",
        {"source": "history", "since": "2026-11-25T00:00:00Z"},
        costly=True,
        status=202,
        body_optional=True,
        problems=(409,),
    ),
    Route(
        "GET",
        "/anomaly/train/{job_id}",
        "detector",
        Role.ADMIN,
        "A training job's progress",
        problems=(404,),
    ),
    Route("GET", "/anomaly/models", "detector", Role.VIEWER, "Model versions"),
    Route(
        "POST",
        "/anomaly/models/rollback",
        "detector",
        Role.ADMIN,
        "Return to the previous model version",
        problems=(409,),
    ),
    Route(
        "POST",
        "/anomaly/models/{version}/activate",
        "detector",
        Role.ADMIN,
        "Activate a model version",
        problems=(404, 409),
    ),
    Route(
        "POST",
        "/anomaly/{anomaly_id}/feedback",
        "detector",
        Role.OPERATOR,
        "Mark an anomaly as a false or true positive",
        {"verdict": "false_positive", "note": "nightly batch job"},
        actor_field="by",
        problems=(404,),
    ),
    # remediator
    Route("GET", "/remediation/status", "remediator", Role.VIEWER, "Engine and safety counters"),
    Route(
        "POST",
        "/remediation/evaluate",
        "remediator",
        Role.OPERATOR,
        "What would happen for this anomaly, and which rule would stop it",
        ANOMALY,
    ),
    Route(
        "POST",
        "/remediation/execute",
        "remediator",
        Role.OPERATOR,
        "Request an action on a target (all safety checks apply)",
        {
            "action": "restart_service",
            "target": {"instance_ids": ["i-0abc123def4567890"]},
            "params": {"service": "nginx"},
            "reason": "stuck workers",
        },
        actor_field="by",
        status=202,
    ),
    Route(
        "POST",
        "/remediation/test",
        "remediator",
        Role.OPERATOR,
        "A synthetic anomaly through the whole path, in dry-run",
        {"resource_id": "web-1"},
        status=202,
        body_optional=True,
    ),
    Route(
        "GET", "/remediation/actions", "remediator", Role.VIEWER, "The audit log", query=AUDIT_QUERY
    ),
    Route(
        "GET",
        "/remediation/catalog",
        "remediator",
        Role.VIEWER,
        "The registered actions, their risk and parameters",
    ),
    Route("GET", "/remediation/approvals", "remediator", Role.VIEWER, "Pending approvals"),
    Route(
        "GET",
        "/remediation/approvals/{approval_id}",
        "remediator",
        Role.VIEWER,
        "One approval",
        problems=(404,),
    ),
    Route(
        "POST",
        "/remediation/approvals/{approval_id}/approve",
        "remediator",
        Role.OPERATOR,
        "Approve a pending action",
        {"comment": "go ahead"},
        actor_field="by",
        status=202,
        body_optional=True,
        problems=(404, 409, 410),
    ),
    Route(
        "POST",
        "/remediation/approvals/{approval_id}/reject",
        "remediator",
        Role.OPERATOR,
        "Reject a pending action",
        {"comment": "not during the sale"},
        actor_field="by",
        body_optional=True,
        problems=(404, 409, 410),
    ),
    Route(
        "GET",
        "/remediation/maintenance",
        "remediator",
        Role.VIEWER,
        "Maintenance windows",
        query=("include_past",),
    ),
    Route(
        "POST",
        "/remediation/maintenance",
        "remediator",
        Role.OPERATOR,
        "Add a maintenance window: no action on matching targets while it lasts",
        {"target_pattern": "web-*", "duration": "2h", "reason": "kernel upgrade"},
        actor_field="by",
        status=201,
    ),
    Route(
        "DELETE",
        "/remediation/maintenance/{window_id}",
        "remediator",
        Role.OPERATOR,
        "End a maintenance window",
        problems=(404,),
    ),
    Route(
        "POST",
        "/remediation/breaker/reset",
        "remediator",
        Role.ADMIN,
        "Close the circuit breaker: automatic actions resume",
        {},
        actor_field="by",
        body_optional=True,
    ),
    Route(
        "GET",
        "/remediation/admin-log",
        "remediator",
        Role.ADMIN,
        "Who changed rules, windows, the breaker, dry-run",
        query=("count",),
    ),
    Route("GET", "/rules", "remediator", Role.VIEWER, "The remediation rules in force"),
    Route(
        "POST",
        "/rules/reload",
        "remediator",
        Role.ADMIN,
        "Reload the remediation rules",
        {},
        actor_field="by",
        body_optional=True,
    ),
    Route(
        "POST",
        "/rules/{rule}/auto-shadow/reset",
        "remediator",
        Role.ADMIN,
        "Take a rule out of automatic shadow mode",
        {},
        actor_field="by",
        problems=(404,),
        body_optional=True,
    ),
    # history
    Route(
        "GET",
        "/incidents",
        "history",
        Role.VIEWER,
        "Incidents, newest first, by resource, severity, status, kind, time, rule, outcome",
        query=(*INCIDENT_QUERY, "limit", "cursor"),
    ),
    Route(
        "GET",
        "/incidents/{incident_id}",
        "history",
        Role.VIEWER,
        "One incident with its whole timeline",
        problems=(404,),
    ),
    Route(
        "GET",
        "/audit",
        "history",
        Role.VIEWER,
        "The audit log from the database: every decision, newest first",
        query=AUDIT_QUERY,
    ),
    Route(
        "GET",
        "/export/incidents",
        "history",
        Role.VIEWER,
        "Incidents as JSON lines (with timelines) or CSV",
        query=(*INCIDENT_QUERY, "format"),
        costly=True,
        content=EXPORT_MEDIA,
    ),
    Route(
        "GET",
        "/export/audit",
        "history",
        Role.VIEWER,
        "The audit log as JSON lines or CSV",
        query=(*AUDIT_QUERY[:-2], "format"),
        costly=True,
        content=EXPORT_MEDIA,
    ),
    # notifier
    Route(
        "GET",
        "/notifications",
        "notifier",
        Role.VIEWER,
        "Recent deliveries",
        query=("limit", "status", "kind"),
    ),
    Route(
        "GET",
        "/notifications/outbox",
        "notifier",
        Role.VIEWER,
        "Messages kept locally (no webhook configured)",
        query=("limit",),
    ),
    Route(
        "GET",
        "/notifications/groups",
        "notifier",
        Role.VIEWER,
        "Alert groups held",
        query=("limit",),
    ),
    Route(
        "GET",
        "/notifications/dead-letter",
        "notifier",
        Role.VIEWER,
        "Messages that could not be delivered",
        query=("limit",),
    ),
    Route(
        "POST",
        "/notifications/dead-letter/replay",
        "notifier",
        Role.ADMIN,
        "Send the dead-lettered messages again",
        {},
        body_optional=True,
    ),
    Route("GET", "/notifications/silences", "notifier", Role.VIEWER, "Active and future silences"),
    Route(
        "POST",
        "/notifications/silences",
        "notifier",
        Role.OPERATOR,
        "Silence what matches, for a while",
        {"matchers": {"resource": "web-*"}, "duration_s": 3600, "comment": "load test"},
        actor_field="created_by",
        status=201,
    ),
    Route(
        "DELETE",
        "/notifications/silences/{silence_id}",
        "notifier",
        Role.OPERATOR,
        "End a silence now",
        problems=(404,),
    ),
    Route(
        "POST",
        "/notifications/acknowledgements",
        "notifier",
        Role.OPERATOR,
        "Acknowledge an alert: no more reminders",
        {"resource_id": "web-1", "metric": "cpu_utilization"},
        actor_field="by",
        problems=(404,),
    ),
)


def limiter(request: Request, route: Route) -> RateLimiter:
    """The per-key budget a forwarded route counts against."""
    return proxy_budget(request, costly=route.costly)


def proxy_budget(request: Request, *, costly: bool = False) -> RateLimiter:
    """The per-key budget of forwarded requests (shared by every gateway replica, and by the
    console's pages): every key gets ``proxy_rate_per_min`` requests a minute on the forwarded
    routes, and apart from those ``proxy_costly_rate_per_min`` on the costly ones."""
    settings: GatewaySettings = gateway(request).settings
    if costly:
        return RateLimiter(
            gateway(request).redis, "proxy-costly", settings.proxy_costly_rate_per_min
        )
    return RateLimiter(gateway(request).redis, "proxy", settings.proxy_rate_per_min)


def _guard(route: Route) -> Callable[..., Awaitable[Principal]]:
    """The route's role, then its rate limit (only keys that may call it are counted)."""
    authenticate = require(route.role)

    async def check(request: Request, principal: Principal) -> Principal:
        await limiter(request, route).enforce(principal.key_id)
        return principal

    # Set by hand: the annotations of this module are strings, and a string cannot name the
    # local ``authenticate``.
    check.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(
                "principal",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[Principal, Depends(authenticate)],
            ),
        ],
        return_annotation=Principal,
    )
    return check


def _forwarded_path(path: str) -> str:
    """The request's path as sent on: every character of a path parameter quoted, and a
    parameter of ``.`` or ``..`` spelled ``%2E`` (the HTTP client would otherwise resolve it as
    a dot segment, and ``/incidents/.`` would reach ``/incidents``: the whole list)."""
    segments = quote(path, safe="/").split("/")
    return "/".join("%2E" * len(s) if s in (".", "..") else s for s in segments)


def _endpoint(route: Route) -> Callable[..., Awaitable[Response]]:
    params = [p for p in route.path.split("/") if p.startswith("{")]
    names = [p.strip("{}") for p in params]

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        backends: Backends = gateway(request).backends
        principal: Principal = kwargs["principal"]
        refuse_unknown_names(request.query_params.keys(), route.query)
        # Every value of a repeated name goes on (``severity=critical&severity=high``).
        query = tuple((k, v) for k, v in request.query_params.multi_items() if k in route.query)
        body = kwargs.get("body")
        if route.actor_field is not None and isinstance(body, dict):
            body = {**body, route.actor_field: principal.actor}
        elif route.actor_field is not None and body is None and route.body_optional:
            body = {route.actor_field: principal.actor}
        # Path parameters may hold any character. The scope's path, not ``request.url``: URL
        # parsing drops tabs and line breaks, so ``x%09`` would reach the backend as ``x``.
        path = _forwarded_path(request.scope["path"])
        correlation_id = str(request.scope.get("state", {}).get("correlation_id", ""))
        # (a detector call goes to the process owning its series: ``Backends.detector_route``)
        return await backends.forward(
            route.service,
            route.method,
            path,
            principal=principal,
            correlation_id=correlation_id,
            body=body,
            params=query or None,
            timeout_s=gateway(request).settings.proxy_costly_timeout_s if route.costly else None,
        )

    signature = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "principal",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[Principal, Depends(_guard(route))],
        ),
    ]
    signature += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for n in names
    ]
    signature += [
        inspect.Parameter(
            q,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[list[str] | None, Query()]
            if q in REPEATABLE_QUERY
            else Annotated[str | None, Query()],
        )
        for q in route.query
    ]
    if route.example is not None and route.body_optional:
        signature.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[dict[str, Any] | None, Body(examples=[route.example])],
            )
        )
    elif route.example is not None:
        signature.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[dict[str, Any], Body(examples=[route.example])],
            )
        )
    endpoint.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    slug = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    endpoint.__name__ = f"{route.method.lower()}_{slug}"
    return endpoint


# Problems any forwarded route may answer: the caller's key (401, 403), its budget (429), the
# backend out of reach or too slow (502, 504); 403 also when a safety rule refuses.
FORWARDED_PROBLEMS = (401, 403, 429, 502, 504)


def documented_problems(route: Route) -> dict[int | str, dict[str, Any]]:
    """The problems of one forwarded route: the gateway's, then the backend's. A body may be
    malformed (400), too large (413) or invalid (422); a path parameter unusable (400); a
    backend's 503 says when to come back (``Retry-After`` is passed on)."""
    statuses = set(FORWARDED_PROBLEMS) | set(route.problems)
    if route.example is not None:
        statuses |= {400, 413, 422}
    if "{" in route.path:
        statuses |= {400, 422}
    if route.query:
        statuses |= {422}
    return problem_responses(*sorted(statuses), retry_after=(503,))


def _file_answer(route: Route) -> dict[int | str, dict[str, Any]]:
    """A success answer that is a file, documented with its media types."""
    if not route.content:
        return {}
    schema = {"schema": {"type": "string"}}
    return {
        route.status: {
            "description": "The file",
            "content": dict.fromkeys(route.content, schema),
        }
    }


def router() -> APIRouter:
    api = APIRouter()
    for route in ROUTES:
        api.add_api_route(
            route.path,
            _endpoint(route),
            methods=[route.method],
            status_code=route.status,
            summary=route.summary,
            description=f"Served by the {route.service}; needs the `{route.role}` role.",
            tags=[route.service],
            responses=documented_problems(route) | _file_answer(route),
        )
    return api
