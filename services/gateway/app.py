"""The gateway: the public entry point (``create_app`` is the uvicorn factory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from services.gateway import routes_metrics
from services.gateway.config import GatewaySettings
from shared.bus import EventBus
from shared.logging import configure_logging
from shared.web import setup_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        app.state.redis = redis
        app.state.bus = EventBus(redis, settings.stream_maxlen)
        try:
            yield
        finally:
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI gateway",
        version="0.1.0",
        description="Ingest metrics and alerts; query anomalies, remediations and ChatOps.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "gateway", {"redis": redis_ready})
    app.include_router(routes_metrics.router)
    return app
