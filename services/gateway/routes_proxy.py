"""The public endpoints that belong to other services, each with the role it needs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from services.gateway.auth import Principal, require
from services.gateway.keys import Role
from services.gateway.proxy import Backends
from shared.web import PROBLEM_SCHEMA


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str
    role: Role
    summary: str
    example: dict[str, Any] | None = None  # a JSON body is taken when given
    query: tuple[str, ...] = field(default=())


SAMPLE = {"resource_id": "web-1", "metric": "cpu_utilization", "value": 97.5}
ANOMALY = {
    "resource_id": "web-1",
    "metric": "cpu_utilization",
    "severity": "critical",
    "value": 97.5,
}
ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/anomaly", "detector", Role.VIEWER, "Score one sample or a short series", SAMPLE
    ),
    Route(
        "POST",
        "/anomaly/batch",
        "detector",
        Role.VIEWER,
        "Score several series",
        {"requests": [SAMPLE]},
    ),
    Route("GET", "/anomaly/status", "detector", Role.VIEWER, "Detector models and series"),
    Route(
        "POST",
        "/anomaly/train",
        "detector",
        Role.ADMIN,
        "Train the multivariate model",
        {"source": "history", "since": "2026-11-25T00:00:00Z"},
    ),
    Route("GET", "/anomaly/train/{job_id}", "detector", Role.ADMIN, "A training job's progress"),
    Route("GET", "/anomaly/models", "detector", Role.VIEWER, "Model versions"),
    Route(
        "POST",
        "/anomaly/models/rollback",
        "detector",
        Role.ADMIN,
        "Return to the previous model version",
    ),
    Route(
        "POST",
        "/anomaly/models/{version}/activate",
        "detector",
        Role.ADMIN,
        "Activate a model version",
    ),
    Route(
        "POST",
        "/anomaly/{anomaly_id}/feedback",
        "detector",
        Role.OPERATOR,
        "Mark an anomaly as a false or true positive",
        {"verdict": "false_positive", "note": "nightly batch job"},
    ),
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
            "target": "i-0abc123def4567890",
            "params": {"service": "nginx"},
            "reason": "stuck workers",
        },
    ),
    Route(
        "POST",
        "/remediation/test",
        "remediator",
        Role.OPERATOR,
        "A synthetic anomaly through the whole path, in dry-run",
        ANOMALY,
    ),
    Route(
        "GET",
        "/remediation/actions",
        "remediator",
        Role.VIEWER,
        "The audit log",
        query=("target", "action", "status", "limit", "cursor"),
    ),
    Route("GET", "/remediation/approvals", "remediator", Role.VIEWER, "Pending approvals"),
    Route(
        "POST",
        "/remediation/approvals/{approval_id}/approve",
        "remediator",
        Role.OPERATOR,
        "Approve a pending action",
        {"comment": "go ahead"},
    ),
    Route(
        "POST",
        "/remediation/approvals/{approval_id}/reject",
        "remediator",
        Role.OPERATOR,
        "Reject a pending action",
        {"comment": "not during the sale"},
    ),
    Route("POST", "/rules/reload", "remediator", Role.ADMIN, "Reload the remediation rules"),
    Route("GET", "/notifications", "notifier", Role.VIEWER, "Recent deliveries"),
)


def _endpoint(route: Route) -> Callable[..., Awaitable[Response]]:
    params = [p for p in route.path.split("/") if p.startswith("{")]
    names = [p.strip("{}") for p in params]

    async def endpoint(request: Request, **kwargs: Any) -> Response:
        backends: Backends = request.app.state.backends
        principal: Principal = kwargs["principal"]
        query = {k: v for k, v in request.query_params.items() if k in route.query}
        return await backends.forward(
            route.service,
            route.method,
            quote(request.url.path, safe="/"),  # path parameters may hold any character
            principal=principal,
            correlation_id=str(request.scope.get("state", {}).get("correlation_id", "")),
            body=kwargs.get("body"),
            params=query or None,
        )

    signature = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "principal",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[Principal, Depends(require(route.role))],
        ),
    ]
    signature += [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for n in names
    ]
    if route.example is not None:
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


def router() -> APIRouter:
    api = APIRouter()
    for route in ROUTES:
        api.add_api_route(
            route.path,
            _endpoint(route),
            methods=[route.method],
            summary=route.summary,
            description=f"Served by the {route.service}; needs the `{route.role}` role.",
            tags=[route.service],
            responses={
                401: PROBLEM_SCHEMA,
                403: PROBLEM_SCHEMA,
                502: PROBLEM_SCHEMA,
                504: PROBLEM_SCHEMA,
            },
        )
    return api
