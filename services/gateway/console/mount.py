"""Putting the console on the gateway: its routers, its static files, its error pages."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.console import (
    routes_actions,
    routes_incidents,
    routes_pages,
    routes_series,
    routes_signin,
)
from services.gateway.console.guard import CONSOLE, NotSignedIn, Refused
from services.gateway.console.rendering import SECURITY_HEADERS, STATIC, page, redirect


class ConsoleSecurityHeaders:
    """Every answer under ``/console`` carries the console's security headers, whoever wrote
    it: a page, a static file (revalidated, not stored), or an error the app answered for it (a
    missing file, a method no console route takes). Headers an answer set itself are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == CONSOLE or path.startswith(CONSOLE + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(f"{CONSOLE}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    key = name.lower().encode()
                    if key in present:
                        continue
                    if key == b"cache-control" and static and message["status"] == 200:
                        value = "no-cache"  # versionless but tiny: a reload revalidates
                    headers.append((key, value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    back_to = exc.back_to if isinstance(exc, NotSignedIn) else ""
    target = f"{CONSOLE}/sign-in" + (f"?next={quote(back_to, safe='/')}" if back_to else "")
    return redirect(target)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return page(
        request,
        "error.html",
        {"title": "Not done", "status": exc.status, "message": exc.message},
        status=exc.status,
    )


async def _no_such_page(request: Request) -> Response:
    """Any other path under /console: an HTML 404 page, not the API's problem document."""
    return page(
        request,
        "error.html",
        {"title": "Not found", "status": 404, "message": "there is no such console page"},
        status=404,
    )


def mount_console(app: FastAPI) -> None:
    """Serve the console under ``/console`` (pages are left out of the OpenAPI document)."""
    for module in (routes_signin, routes_pages, routes_actions, routes_incidents, routes_series):
        app.include_router(module.router)
    app.mount(f"{CONSOLE}/static", StaticFiles(directory=STATIC), name="console-static")
    # After the pages and the static files, so it only answers what none of them does.
    app.add_api_route(
        f"{CONSOLE}/{{rest:path}}", _no_such_page, methods=["GET"], include_in_schema=False
    )
    app.add_exception_handler(NotSignedIn, _to_sign_in)
    app.add_exception_handler(Refused, _refused)
    app.add_middleware(ConsoleSecurityHeaders)
