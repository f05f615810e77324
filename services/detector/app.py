"""The detector service: consumes metric shards, scores every sample, publishes anomalies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.detector import routes_anomaly, routes_models, routes_status
from services.detector.config import DetectorSettings
from services.detector.wiring import build
from shared.logging import configure_logging
from shared.web import setup_app


def create_app(settings: DetectorSettings | None = None) -> FastAPI:
    settings = settings or DetectorSettings()
    configure_logging("detector", settings.log_level, settings.log_json)
    detector = build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with detector.running():
            yield

    app = FastAPI(
        title="Smart CloudOps AI detector",
        version="0.1.0",
        description="Streaming anomaly detection over the metric shards.",
        lifespan=lifespan,
    )
    app.state.detector = detector
    app.state.settings = settings  # read by shared.web (the internal token, problem pages)

    async def redis_ready() -> None:
        await detector.redis.ping()

    setup_app(app, "detector", {"redis": redis_ready}, settings=settings)
    app.include_router(routes_anomaly.router)
    app.include_router(routes_models.router)
    app.include_router(routes_status.router)
    return app
