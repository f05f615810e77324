"""The notifier: tells the team what happened and what needs a decision, in Slack or any
webhook, grouped and without loss (docs/notifier.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.notifier.api import routes_notifications, routes_silences
from services.notifier.config import NotifierSettings
from services.notifier.errors import GroupNotFoundError, NotifierError, SilenceNotFoundError
from services.notifier.wiring import build
from shared.logging import configure_logging
from shared.web import problem, setup_app


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    configure_logging("notifier", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        http = httpx.AsyncClient(timeout=settings.delivery_timeout_s, follow_redirects=False)
        app.state.redis = redis
        app.state.notifier = notifier = build(settings, redis, http)
        try:
            async with notifier.running():
                yield
        finally:
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI notifier",
        version="0.2.0",
        description="Slack and webhook notifications: grouped, routed, silenced, retried.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "notifier", {"redis": redis_ready}, settings=settings)
    app.add_exception_handler(NotifierError, _notifier_problem)
    app.include_router(routes_notifications.router)
    app.include_router(routes_silences.router)
    return app


def _notifier_problem(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, SilenceNotFoundError | GroupNotFoundError):
        return problem(404, "Not found", str(exc))
    return problem(500, "Internal error", "the notifier failed; see its log")
