"""The collector: reads CloudWatch metrics of opted-in resources in every configured account
and region and writes them, each datapoint once, to the metrics stream the detector reads
(docs/operator-guide.md, "CloudWatch collector")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from services.collector import routes_status
from services.collector.config import CollectorSettings
from services.collector.wiring import build
from shared.logging import configure_logging
from shared.web import setup_app


class AwsNotAnswering(RuntimeError):
    """The last poll of some account and region failed."""


def create_app(settings: CollectorSettings | None = None) -> FastAPI:
    settings = settings or CollectorSettings()
    configure_logging("collector", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        app.state.redis = redis
        app.state.collector = service = build(settings, redis)
        try:
            async with service.running():
                yield
        finally:
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI collector",
        version="0.1.0",
        description="CloudWatch metrics of opted-in resources onto the metrics stream.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    async def aws_ready() -> None:
        failing = [t for t in app.state.collector.collector.targets if t.last_error]
        if failing:
            raise AwsNotAnswering("; ".join(f"{t.name}: {t.last_error}" for t in failing))

    checks = {"redis": redis_ready}
    if settings.enabled:
        checks["aws"] = aws_ready
    setup_app(app, "collector", checks, settings=settings)
    app.include_router(routes_status.router)
    return app
