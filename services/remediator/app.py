"""The remediator API: dispatches anomaly events to the Celery workers and reports status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.dispatcher import AnomalyDispatcher
from shared.bus import StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import ANOMALIES, GROUP_REMEDIATOR
from shared.web import setup_app


def create_app(settings: RemediatorSettings | None = None) -> FastAPI:
    settings = settings or RemediatorSettings()
    configure_logging("remediator", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        celery = create_celery(settings)
        app.state.redis = redis
        consumer = StreamConsumer(
            redis,
            streams=[ANOMALIES],
            group=GROUP_REMEDIATOR,
            consumer=consumer_name("remediator"),
            handler=AnomalyDispatcher(celery),
            options=consumer_options(settings),
        )
        try:
            async with running([consumer]):
                yield
        finally:
            celery.close()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI remediator",
        version="0.1.0",
        description="Remediation rules, safety checks and actions.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "remediator", {"redis": redis_ready})

    @app.get("/remediation/status", tags=["remediation"], summary="Engine and safety status")
    async def status() -> dict[str, object]:
        return {"dry_run": settings.dry_run, "executor": "dry-run"}

    return app
