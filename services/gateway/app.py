"""The gateway: the public entry point (``create_app`` is the uvicorn factory)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from services.gateway import remote_write_route, routes_anomalies, routes_metrics, routes_proxy
from services.gateway.auth import authenticate_before_body
from services.gateway.backend_documents import keep_fetching, serve_merged
from services.gateway.chatops import routes as chatops_routes
from services.gateway.config import GatewaySettings
from services.gateway.console.mount import mount_console
from services.gateway.slack import routes as slack_routes
from services.gateway.wiring import build
from shared.logging import configure_logging
from shared.web import setup_app

DESCRIPTION = """Ingest metrics and alerts; query anomalies, remediations and ChatOps.

Every call needs an API key (`X-API-Key: scops_...` or `Authorization: Bearer scops_...`),
created with `scops keys create --name NAME --role viewer|operator|admin|ingest`, except
`/slack/*`, which Slack signs with the app's signing secret (see docs/chatops.md).
Errors are RFC 9457 problem documents (`application/problem+json`)."""


def _freeze_startup_objects() -> None:
    """Move everything built so far (imported modules, the app, its routes and models: a few
    hundred thousand objects) out of the cyclic garbage collector's sight. They live as long as
    the process, and a full collection walking them held every request for tens of
    milliseconds, hundreds on a busy machine; requests' own garbage is still collected.

    Called again once the ChatOps classifier is trained: training imports scikit-learn, NumPy
    and SciPy (tens of thousands of objects more), and left in sight they made every full
    collection hold ingest requests for 50-60 ms."""
    gc.collect()
    gc.freeze()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        # Idle connections to the backends are dropped well before the backends' own
        # keep-alive timeout (``scops serve``: 15 s; uvicorn's default 5 s): a request sent
        # on a connection the server is closing at that moment fails as a 502.
        http = httpx.AsyncClient(
            timeout=settings.proxy_timeout_s, limits=httpx.Limits(keepalive_expiry=2.0)
        )
        gateway = build(settings, redis, http)
        app.state.gateway = gateway
        documents = asyncio.create_task(keep_fetching(app, http, dict(gateway.backends.urls)))
        try:
            async with gateway.running():
                _freeze_startup_objects()
                gateway.chat_classifier.after_built(_freeze_startup_objects)
                yield
        finally:
            documents.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await documents
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Operation ids are the handlers' names: stable, short, readable in generated clients.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.gateway.redis.ping()

    setup_app(app, "gateway", {"redis": redis_ready}, settings=settings)
    app.include_router(routes_metrics.router)
    app.include_router(remote_write_route.router)
    app.include_router(routes_anomalies.router)
    app.include_router(routes_proxy.router())
    app.include_router(chatops_routes.router)
    app.include_router(slack_routes.router)
    slack_routes.add_slack_problem_handlers(app)
    serve_merged(app, routes_proxy.ROUTES)
    mount_console(app)
    authenticate_before_body(app)
    return app
