"""The detector service: consumes metric shards, scores every sample, publishes anomalies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from services.detector.config import DetectorSettings
from services.detector.consumer import MetricBatchHandler
from services.detector.engine import MODEL_VERSION, DetectionEngine
from services.detector.metrics import SERIES_TRACKED
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import GROUP_DETECTOR, metrics_stream
from shared.web import setup_app


def create_app(settings: DetectorSettings | None = None) -> FastAPI:
    settings = settings or DetectorSettings()
    configure_logging("detector", settings.log_level, settings.log_json)
    shards = settings.owned_shards()
    engine = DetectionEngine(
        settings.baseline_window, settings.warmup_samples, settings.z_threshold
    )
    SERIES_TRACKED.set_function(lambda: len(engine.series))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        app.state.redis = redis
        bus = EventBus(redis, settings.stream_maxlen)
        consumer = StreamConsumer(
            redis,
            streams=[metrics_stream(s) for s in shards],
            group=GROUP_DETECTOR,
            consumer=consumer_name("detector"),
            handler=MetricBatchHandler(engine, bus),
            options=consumer_options(settings),
        )
        try:
            async with running([consumer]):
                yield
        finally:
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI detector",
        version="0.1.0",
        description="Streaming anomaly detection over the metric shards.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "detector", {"redis": redis_ready})

    @app.get("/anomaly/status", tags=["anomaly"], summary="Models and series tracked")
    async def status() -> dict[str, object]:
        return {
            "model_version": MODEL_VERSION,
            "series_tracked": len(engine.series),
            "samples_scored": engine.samples_scored,
            "shards": shards,
            "warmup_samples": settings.warmup_samples,
        }

    return app
