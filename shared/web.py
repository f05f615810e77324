"""What every service's FastAPI app has in common: RFC 9457 problem responses, correlation ids,
``/health``, ``/ready`` and ``/metrics``.

This is the one module of ``shared`` that imports the web framework (docs/adr/0002); the event
contracts in the rest of the package do not.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import fastapi_offline
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.settings import BaseServiceSettings

log = structlog.get_logger("shared.web")

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"

ReadyCheck = Callable[[], Awaitable[None]]


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "Problem details (RFC 9457)",
    "content": {
        PROBLEM_JSON: {
            "example": {
                "type": "about:blank",
                "title": "Invalid request",
                "status": 422,
                "detail": "samples[0].value: must be a finite number",
                "errors": [
                    {
                        "field": "samples[0].value",
                        "pointer": "/samples/0/value",
                        "reason": "must be a finite number",
                    }
                ],
            }
        }
    },
}


def _field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    pointer = "/" + "/".join(str(p) for p in parts)
    return field or "body", pointer if parts else ""


def _validation_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        field, pointer = _field_path(tuple(err.get("loc", ())))
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            return problem(
                400,
                "Malformed JSON",
                f"the request body is not valid JSON: {err.get('ctx', {}).get('error', reason)}",
                errors=[{"field": "body", "pointer": "", "reason": "not valid JSON"}],
            )
        errors.append({"field": field, "pointer": pointer, "reason": reason})
    first = errors[0] if errors else {"field": "body", "reason": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem(
        422, "Invalid request", f"{first['field']}: {first['reason']}{more}", errors=errors
    )


def _http_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return problem(exc.status_code, _title(exc.status_code), detail, headers=exc.headers)


def _unhandled_problem(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return problem(500, "Internal error", "the request failed; see the service log")


def _title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Content too large",
        415: "Unsupported media type",
        429: "Too many requests",
        502: "Bad gateway",
        503: "Service unavailable",
        504: "Gateway timeout",
    }.get(status, "Error")


class CorrelationIdMiddleware:
    """Binds the caller's ``X-Correlation-ID`` (or a new one) to every log line of the request
    and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-correlation-id", b"").decode("latin-1")
        correlation_id = incoming[:128] if incoming.isprintable() and incoming else None
        correlation_id = correlation_id or uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", correlation_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")


def health_router(service: str, ready_checks: Mapping[str, ReadyCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/ready",
        summary="Readiness: every dependency answers",
        responses={503: PROBLEM_SCHEMA},
    )
    async def ready() -> Any:
        checks: dict[str, str] = {}
        for name, check in ready_checks.items():
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"failing: {type(exc).__name__}"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "service": service, "checks": checks}
        return problem(
            503, "Not ready", f"{service} dependencies failing", service=service, checks=checks
        )

    return router


DOCS_STATIC = "/docs-static"


def _serve_docs_locally(app: FastAPI) -> None:
    """Swagger UI and ReDoc from files shipped in a package, not a CDN: the docs work on an
    isolated network too."""
    static = Path(fastapi_offline.__file__).parent / "static"
    app.router.routes = [
        r for r in app.router.routes if getattr(r, "path", None) not in ("/docs", "/redoc")
    ]
    app.mount(DOCS_STATIC, StaticFiles(directory=static), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )


def setup_app(
    app: FastAPI,
    service: str,
    ready_checks: Mapping[str, ReadyCheck],
    *,
    settings: BaseServiceSettings,
) -> None:
    """Problem handlers, correlation ids, health routes, ``/metrics`` (with the settings every
    service shares) and local API docs for one service."""
    metrics.STREAM_MAXLEN.set(settings.stream_maxlen)
    _serve_docs_locally(app)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(Exception, _unhandled_problem)
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(health_router(service, ready_checks))
    Instrumentator(excluded_handlers=["/metrics", "/health"]).instrument(app).expose(
        app, include_in_schema=False
    )


INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name


async def require_internal_token(request: Request) -> None:
    """Dependency for internal mutating endpoints: reaching the network is not enough. The
    expected token is the app's ``settings.internal_token``."""
    expected: str = request.app.state.settings.internal_token.get_secret_value()
    given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    # An empty token never matches, even an empty expected one (the settings refuse that too).
    matches = hmac.compare_digest(given.encode(), expected.encode())
    if not (matches and given.strip() and expected.strip()):
        raise HTTPException(401, f"a valid {INTERNAL_TOKEN_HEADER} header is required")
