"""What every service's FastAPI app has in common: RFC 9457 problem responses, correlation ids,
``/health``, ``/ready`` and ``/metrics``.

This is the one module of ``shared`` that imports the web framework (docs/adr/0002); the event
contracts in the rest of the package do not.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.json_bounds import shown_name
from shared.query_names import check_query_names
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


PROBLEM_COMPONENT = "Problem"
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}
# What every error answer of every service looks like: the RFC 9457 members, always present,
# plus members of the problem's own (``errors``, ``approval_id``, ``checks`` ...).
PROBLEM_BODY_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_COMPONENT,
    "description": "Problem details (RFC 9457). More members may follow, named per problem.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the problem's kind."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "One entry per refused field (validation problems).",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "pointer": {"type": "string"},
                    "reason": {"type": "string"},
                },
                "additionalProperties": True,
            },
        },
    },
    "additionalProperties": True,
}
PROBLEM_EXAMPLE: dict[str, Any] = {
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
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
CORRELATION_COMPONENT = "CorrelationId"
CORRELATION_HEADER_DOC: dict[str, Any] = {
    "description": "The caller's correlation id, or a new one: it names the request in every "
    "log line and event it causes.",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}
# Why each status can be answered, as the API documentation says it.
STATUS_MEANINGS: dict[int, str] = {
    400: "Malformed request: the body is not valid JSON (or not of its declared form)",
    401: "No valid credentials (API key, internal token or Slack signature)",
    403: "The credentials do not allow this, or a safety rule refused it",
    404: "Nothing with this id",
    409: "Conflicts with the current state",
    410: "Gone: it expired",
    408: "The request body did not arrive whole in time",
    413: "The request is larger than accepted",
    415: "The body is not sent as JSON (Content-Type application/json), or is compressed",
    422: "Invalid request: a field is missing, of the wrong type or out of range",
    429: "Rate limit reached; see Retry-After",
    502: "The service behind the gateway cannot be reached",
    503: "Not available now (busy, or a dependency is failing)",
    504: "The service behind the gateway did not answer in time",
}


def problem_response(
    status: int, description: str | None = None, *, retry_after: bool = False
) -> dict[str, Any]:
    """The OpenAPI response object of one problem status (429 always has ``Retry-After``)."""
    doc: dict[str, Any] = {
        "description": description or STATUS_MEANINGS.get(status, _title(status)),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if retry_after or status == 429:
        doc["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    return doc


def problem_responses(
    *statuses: int, retry_after: tuple[int, ...] = (), **described: str
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route may answer, for a route decorator:
    ``problem_responses(401, 404)``; a status given as ``s409="..."`` gets its own
    description; the statuses in ``retry_after`` carry that header. 400 (malformed JSON) and
    422 (invalid input) of routes that take input are documented by ``setup_app`` for every
    route, so routes list only their own."""
    wanted: dict[int, str | None] = dict.fromkeys(statuses)
    wanted |= {int(key.removeprefix("s")): text for key, text in described.items()}
    return {
        status: problem_response(status, text, retry_after=status in retry_after)
        for status, text in sorted(wanted.items())
    }


# A generic problem answer, for code that documents one status by hand.
PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "Problem details (RFC 9457)",
    "content": {PROBLEM_JSON: {"schema": PROBLEM_REF, "example": PROBLEM_EXAMPLE}},
}


def _takes_json(operation: Mapping[str, Any]) -> bool:
    content = operation.get("requestBody", {}).get("content", {})
    return any(media.endswith("json") for media in content)


def _close_patterned_maps(node: Any) -> None:
    """Every map whose keys have a pattern (``dict[Key, Value]`` with a constrained key type)
    documented as refusing any other key, as validation does: pydantic writes the key's
    pattern as ``patternProperties`` alone, which admits any other key with any value."""
    if isinstance(node, dict):
        if isinstance(node.get("patternProperties"), dict):
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_patterned_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_patterned_maps(value)


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an app's OpenAPI document say what the service answers: every error is
    ``application/problem+json`` with the problem schema (FastAPI documents its validation
    errors as ``application/json`` ``HTTPValidationError``, which no service sends), a JSON body
    may be refused as malformed (400), an API key as missing or not allowed (401, 403), and
    every answer carries ``X-Correlation-ID``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _close_patterned_maps(schema)
    components[PROBLEM_COMPONENT] = PROBLEM_BODY_SCHEMA
    schema["components"].setdefault("headers", {})[CORRELATION_COMPONENT] = CORRELATION_HEADER_DOC
    correlation = {"$ref": f"#/components/headers/{CORRELATION_COMPONENT}"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if _takes_json(operation):
                responses.setdefault("400", problem_response(400))
                responses.setdefault("415", problem_response(415))
            if "requestBody" in operation:  # bounded on every service (shared.body_limit)
                responses.setdefault("408", problem_response(408))
                responses.setdefault("413", problem_response(413))
            if operation.get("security"):
                responses.setdefault("401", problem_response(401))
                responses.setdefault("403", problem_response(403))
            # Any operation may find its store not answering (see setup_app).
            responses.setdefault("503", problem_response(503, retry_after=True))
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    if response.get("description") in (
                        "Validation Error",
                        PROBLEM_SCHEMA["description"],
                    ):
                        response["description"] = STATUS_MEANINGS.get(int(code), _title(int(code)))
                    examples = response.get("content", {}).get(PROBLEM_JSON, {})
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
                    if "example" in examples:
                        response["content"][PROBLEM_JSON]["example"] = examples["example"]
                    if int(code) == 429:
                        response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
                response.setdefault("headers", {})[CORRELATION_HEADER] = correlation
            operation["responses"] = dict(sorted(responses.items()))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in json.dumps(schema.get("paths", {})):
            components.pop(unused, None)
    return schema


def _document_problems_of(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    parts = [shown_name(part) for part in parts]  # in detail, field and pointer
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    pointer = "/" + "/".join(str(p) for p in parts)
    return field or "body", pointer if parts else ""


def declared_coding(request: Request) -> str | None:
    """The ``Content-Encoding`` a request declares for its body (lower case), unless none or
    ``identity``: no service undoes one on a JSON body."""
    coding = request.headers.get("content-encoding", "").strip().lower()
    return None if coding in ("", "identity") else coding


def _encoded_problem(request: Request) -> JSONResponse | None:
    """A 415 for a body refused as unreadable that was sent compressed: no service undoes a
    ``Content-Encoding`` on a JSON body (gzip, deflate, br), so the reason is the coding, not
    the bytes it produced; or declared in a charset other than UTF-8."""
    if (coding := declared_coding(request)) is not None:
        reason = f"{coding[:50]!r} is not accepted; send the body uncompressed"
        return _unsupported_media("Content-Encoding", reason, "must not be compressed")
    return _charset_problem(request)


DECLARED_CODING = "the request body must not be compressed"


async def refuse_declared_coding(request: Request) -> None:
    """A body FastAPI reads as JSON is refused when the request declares it compressed, whether
    or not its bytes parse: no service undoes a coding, so a plain body under ``gzip`` is not
    what the sender (or a proxy that honours the header) means, and the same header must not be
    a 415 or a 202 depending on the bytes. Routes that read their own body (remote write takes
    ``snappy``) are not affected."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    if declared_coding(request) is not None:
        raise HTTPException(415, DECLARED_CODING)


def _charset_problem(request: Request) -> JSONResponse | None:
    """A 415 for a body refused as unreadable whose Content-Type declares a charset other than
    UTF-8 (JSON is UTF-8, RFC 8259; no service decodes Latin-1 or UTF-16): the reason is the
    charset, not the bytes. A body that reads as UTF-8 whatever it declared is accepted."""
    for param in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"').lower()
        if charset not in ("utf-8", "utf8", "us-ascii"):
            reason = f"charset {charset[:50]!r} is not accepted; send UTF-8"
            return _unsupported_media("Content-Type", reason, "must be UTF-8")
    return None


def _not_json_problem(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """A 415 when the body was not read as JSON because of its media type: FastAPI reads a body
    as JSON only when its Content-Type says so (``application/json``, ``*/*+json``) and hands
    the validator the raw bytes otherwise, which it refuses as "not a valid dictionary"."""
    for err in exc.errors():
        if tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), bytes):
            if (encoded := _encoded_problem(request)) is not None:
                return encoded
            given = request.headers.get("content-type", "").split(";", 1)[0].strip()
            if given.lower() == "application/json" or given.lower().endswith("+json"):
                return None  # sent as JSON: what is wrong is the body itself
            said = f"{given[:100]!r}" if given else "none"
            reason = f"must be application/json (was {said})"
            return _unsupported_media("Content-Type", reason, "must be sent as JSON")
    return None


def _unsupported_media(header: str, reason: str, rule: str) -> JSONResponse:
    """A 415 naming the request header that makes the body unreadable, and why."""
    return problem(
        415,
        _title(415),
        f"the request body {rule}: {header} {reason}",
        errors=[{"field": header, "pointer": "", "reason": reason}],
    )


def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if (not_json := _not_json_problem(request, exc)) is not None:
        return not_json
    errors = []
    for err in exc.errors():
        field, pointer = _field_path(tuple(err.get("loc", ())))
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            if (encoded := _encoded_problem(request)) is not None:
                return encoded
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


# FastAPI's answer to a body its JSON reader cannot read at all (bytes that are not UTF-8, an
# integer past Python's digit limit, arrays or objects nested past the recursion limit), raised
# before validation without the reason.
UNREADABLE_BODY = "There was an error parsing the body"


def _allowed_methods(request: Request) -> str | None:
    """Every method the API document gives this path (``Allow`` of a 405): the router answers
    from the first route whose path matched, which named only its own (``GET`` where ``POST``
    is served too, by another route). None for a path the document does not hold."""
    app = request.scope.get("app")
    if not isinstance(app, FastAPI):
        return None
    path = request.scope.get("path", "")
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods = {m.upper() for m in operations if m.upper() in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            return ", ".join(sorted(methods)) or None
    return None


_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


def _http_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        detail = f"{request.method} is not served here; this path takes {allowed}"
        return problem(405, _title(405), detail, headers={**(exc.headers or {}), "Allow": allowed})
    if exc.detail == DECLARED_CODING and (encoded := _encoded_problem(request)) is not None:
        return encoded
    if exc.status_code == 400 and exc.detail == UNREADABLE_BODY:
        if (encoded := _encoded_problem(request)) is not None:
            return encoded
        return problem(
            400,
            "Malformed JSON",
            "the request body cannot be read as JSON (not UTF-8, nested too deeply, or a number "
            "too long to read)",
            errors=[{"field": "body", "pointer": "", "reason": "not readable as JSON"}],
        )
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return problem(exc.status_code, _title(exc.status_code), detail, headers=exc.headers)


STORE_RETRY_AFTER_S = 1


def store_unavailable(store: str) -> Callable[[Request, Exception], JSONResponse]:
    """The handler of a store not answering: the service unavailable for a moment, not a
    defect: 503 with ``Retry-After`` (clients and Alertmanager retry), nothing accepted, one
    log line (no traceback)."""

    def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "store_unavailable", store=store, path=request.url.path, error_type=type(exc).__name__
        )
        return problem(
            503,
            "Service unavailable",
            f"the store this service keeps its state in ({store}) is not answering; nothing "
            "was done, retry shortly",
            headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
        )

    return unavailable


def _unhandled_problem(request: Request, exc: Exception) -> JSONResponse:
    # Answered outside every middleware (Starlette's server error handler): the correlation
    # middleware has unbound its id from the log context and cannot add its header to this
    # answer, so both are done here.
    correlation_id = request.scope.get("state", {}).get("correlation_id")
    log.exception(
        "unhandled_error",
        path=request.url.path,
        error_type=type(exc).__name__,
        correlation_id=correlation_id,
    )
    return problem(
        500,
        "Internal error",
        "the request failed; see the service log",
        headers={CORRELATION_HEADER: correlation_id} if correlation_id else None,
    )


def _title(status: int) -> str:
    return {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        408: "Request timeout",
        409: "Conflict",
        413: "Content too large",
        415: "Unsupported media type",
        422: "Invalid request",
        429: "Too many requests",
        502: "Bad gateway",
        503: "Service unavailable",
        504: "Gateway timeout",
    }.get(status) or _phrase(status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_CORRELATION_ID = re.compile(rb"[\x21-\x7e]+")
CORRELATION_ID_MAX = 128  # bytes of a caller's correlation id kept; a longer one is replaced


class HeadAsGetMiddleware:
    """``HEAD`` answered wherever ``GET`` is (RFC 9110, 9.1), as the ``GET`` would be, headers
    and status, without its body: the routes declare ``GET`` only, and a 405 that names
    ``HEAD`` among the methods it allows must not refuse it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of a body nobody reads
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class UnknownMethodMiddleware:
    """A method no service implements (``PROPFIND``, ``PURGE``, ...: the HTTP parser reads
    some thirty) is a 501 problem before anything else runs (RFC 9110, 15.6.2): it never
    reaches the request metrics, whose ``method`` label a caller without a key would
    otherwise multiply by every path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _HTTP_METHODS:
            await self.app(scope, receive, send)
            return
        response = problem(
            501,
            _title(501),
            "this method is implemented by no operation of this service; "
            f"the methods served are among {', '.join(sorted(_HTTP_METHODS))}",
        )
        await response(scope, receive, send)


class CorrelationIdMiddleware:
    """Binds the caller's ``X-Correlation-ID`` (or a new one) to every log line of the request
    and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Visible ASCII only: the id travels in headers (HTTP clients encode them as ASCII),
        # log lines and Slack messages; anything else is replaced by a new id.
        # A longer id is replaced, never cut: two callers' ids sharing their first 128
        # bytes would otherwise become one.
        incoming = dict(scope["headers"]).get(b"x-correlation-id", b"")
        correlation_id = (
            incoming.decode("ascii")
            if len(incoming) <= CORRELATION_ID_MAX and _CORRELATION_ID.fullmatch(incoming)
            else uuid.uuid4().hex
        )
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
        responses=problem_responses(s503="A dependency is failing (named in `checks`)"),
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
    # An API answers the path it is asked: no 307 to the path without its trailing slash (a
    # client would send its body again, or not), but 404 as for any other unknown path.
    app.router.redirect_slashes = False
    # Every route included from here on refuses a single-valued query parameter given twice.
    app.router.dependencies.append(Depends(check_query_names))
    app.router.dependencies.append(Depends(refuse_declared_coding))
    _serve_docs_locally(app)
    _document_problems_of(app)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(HTTPException, _http_problem)
    for unavailable in (RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(unavailable, store_unavailable("Redis"))
    app.add_exception_handler(Exception, _unhandled_problem)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    # Outside the correlation ids: a body declared too large is refused before anything runs.
    from shared.body_limit import BodyLimitMiddleware  # here: that module imports this one

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        read_timeout_s=settings.body_read_timeout_s,
    )
    app.include_router(health_router(service, ready_checks))
    Instrumentator(excluded_handlers=["/metrics", "/health"]).instrument(app).expose(
        app, include_in_schema=False
    )
    app.add_middleware(UnknownMethodMiddleware)  # outermost: ahead of the request metrics


INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name


# Declared as the operations' security requirement (the documents say which operations need
# the token); read here, refused below with a problem document rather than FastAPI's answer.
internal_token_header = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER,
    scheme_name="InternalToken",
    auto_error=False,
    description="The stack's shared internal token (SCOPS_INTERNAL_TOKEN).",
)


async def require_internal_token(
    request: Request, given: Annotated[str | None, Security(internal_token_header)] = None
) -> None:
    """Dependency for internal mutating endpoints: reaching the network is not enough. The
    expected token is the app's ``settings.internal_token``."""
    expected: str = request.app.state.settings.internal_token.get_secret_value()
    given = given or ""
    # An empty token never matches, even an empty expected one (the settings refuse that too).
    matches = hmac.compare_digest(given.encode(), expected.encode())
    if not (matches and given.strip() and expected.strip()):
        raise HTTPException(401, f"a valid {INTERNAL_TOKEN_HEADER} header is required")
