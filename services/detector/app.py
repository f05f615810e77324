"""The detector service: consumes metric shards, scores every sample, publishes anomalies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis

from services.detector import routes_anomaly, routes_models
from services.detector.checkpoint import Checkpointer
from services.detector.config import DetectorSettings
from services.detector.consumer import MetricBatchHandler
from services.detector.engine import MODEL_VERSION
from services.detector.engine_setup import build_engine
from services.detector.metrics import SERIES_TRACKED, show_model_version
from services.detector.models import ModelManager, MultivariateOptions
from services.detector.scoring_pool import ScoringPool
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import GROUP_DETECTOR, metrics_stream
from shared.web import setup_app

log = structlog.get_logger("detector.app")


async def _checkpoint_loop(checkpointer: Checkpointer, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await checkpointer.save()
        except Exception as exc:  # keep scoring; the next round retries
            log.warning("checkpoint_failed", error=str(exc))


def create_app(settings: DetectorSettings | None = None) -> FastAPI:
    settings = settings or DetectorSettings()
    configure_logging("detector", settings.log_level, settings.log_json)
    shards = settings.owned_shards()
    engine = build_engine(settings)
    contexts_ready = engine.config.memory_start_samples + engine.config.memory_settle_samples
    if settings.warmup_samples < contexts_ready:
        log.info(
            "short_warmup",
            warmup_samples=settings.warmup_samples,
            context_detectors_from=contexts_ready,
            note="out_of_range, level_shift and stuck may alarm from the warm-up on; "
            "novelty, seasonal and pattern only once their memory has settled",
        )
    SERIES_TRACKED.set_function(lambda: len(engine.series))
    show_model_version("streaming", MODEL_VERSION)
    models = ModelManager(
        settings.model_dir,
        MultivariateOptions(
            metrics=tuple(settings.multivariate_metrics),
            threshold=settings.multivariate_threshold,
            cooldown_s=settings.multivariate_cooldown_s,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        app.state.redis = redis
        checkpointer = Checkpointer(redis, engine, settings.metric_shards)
        app.state.checkpointer = checkpointer
        restored = await checkpointer.load(shards)
        log.info("state_restored", series=restored, shards=shards)
        await models.load_current()
        batches = MetricBatchHandler(engine, EventBus(redis, settings.stream_maxlen), redis, models)
        consumer = StreamConsumer(
            redis,
            streams=[metrics_stream(s) for s in shards],
            group=GROUP_DETECTOR,
            consumer=consumer_name("detector"),
            handler=batches.unexpected,
            batch_handler=batches,
            options=consumer_options(settings),
        )
        saver = asyncio.create_task(_checkpoint_loop(checkpointer, settings.checkpoint_interval_s))
        try:
            async with running([consumer]):
                yield
        finally:
            scoring_pool.close()
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            saved = await checkpointer.save()
            log.info("state_saved", series=saved)
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI detector",
        version="0.1.0",
        description="Streaming anomaly detection over the metric shards.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    scoring_pool = ScoringPool(settings.anomaly_api_workers, settings.anomaly_api_queue)
    app.state.scoring_pool = scoring_pool
    app.state.models = models
    app.state.metric_streams = [metrics_stream(s) for s in shards]

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "detector", {"redis": redis_ready}, settings=settings)
    app.include_router(routes_anomaly.router)
    app.include_router(routes_models.router)

    @app.get("/anomaly/status", tags=["anomaly"], summary="Models, series tracked, warm-up")
    async def status() -> dict[str, Any]:
        return {
            "model_version": MODEL_VERSION,
            "series_tracked": len(engine.series),
            "series_warming_up": engine.warming_up(),
            "warmup_samples": engine.config.warmup_samples,
            "alarm_threshold": engine.config.alarm_threshold,
            "samples_scored": engine.samples_scored,
            "api_requests_admitted": scoring_pool.admitted,
            "shards": shards,
            "checkpointed_series": app.state.checkpointer.saved_series,
            "unreadable_saved_series": engine.unreadable_states,
            "multivariate_model": models.version,
            "multivariate_metrics": list(models.options.metrics),
        }

    return app
