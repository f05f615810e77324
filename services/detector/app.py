"""The detector service: consumes metric shards, scores every sample, publishes anomalies."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from services.detector import routes_anomaly, routes_models
from services.detector.checkpoint import Checkpointer
from services.detector.config import DetectorSettings
from services.detector.consumer import MetricBatchHandler
from services.detector.engine import MODEL_VERSION, DetectionEngine
from services.detector.engine_setup import build_engine
from services.detector.metrics import SERIES_TRACKED, show_model_version
from services.detector.model_store_redis import RedisModelStore
from services.detector.models import ModelManager, MultivariateOptions
from services.detector.scoring_pool import ScoringPool
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import GROUP_DETECTOR, all_metric_streams, metrics_stream
from shared.web import setup_app

log = structlog.get_logger("detector.app")
MODEL_FOLLOW_S = 2.0  # how soon a version activated by another process is taken up


async def _follow_models(models: ModelManager, interval: float) -> None:
    """Take up a model version activated by another detector process."""
    while True:
        await asyncio.sleep(interval)
        try:
            await models.follow()
        except Exception as exc:  # keep scoring with the model in hand; the next round retries
            log.warning("model_follow_failed", error=str(exc))


class StateFreezer:
    """Moves the series' state out of the cyclic garbage collector's sight (``gc.freeze``)
    each time the number of series grew by a fifth: a full collection walking thousands of
    long-lived series states stalls the loop for tens of milliseconds, and those states are
    freed by reference counting anyway. Freezing only on growth bounds what a frozen cycle of
    garbage could keep."""

    def __init__(self, engine: DetectionEngine) -> None:
        self.engine = engine
        self.frozen_at = 0

    def __call__(self) -> None:
        count = len(self.engine.series)
        if count > self.frozen_at * 1.2:
            gc.freeze()
            self.frozen_at = count


async def _checkpoint_loop(
    checkpointer: Checkpointer, interval: float, freeze: Callable[[], None]
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await checkpointer.save()
        except Exception as exc:  # keep scoring; the next round retries
            log.warning("checkpoint_failed", error=str(exc))
        freeze()


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
    store_client = SyncRedis.from_url(settings.redis_url)  # connects on first use
    model_store = RedisModelStore(store_client)
    models = ModelManager(
        model_store,
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
        imported = await asyncio.to_thread(model_store.import_files, settings.model_dir)
        if imported is not None:
            log.info("models_imported", active=imported, model_dir=str(settings.model_dir))
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
        freeze = StateFreezer(engine)
        freeze()  # the restored state
        saver = asyncio.create_task(
            _checkpoint_loop(checkpointer, settings.checkpoint_interval_s, freeze)
        )
        follower = asyncio.create_task(_follow_models(models, MODEL_FOLLOW_S))
        try:
            async with running([consumer]):
                yield
        finally:
            scoring_pool.close()
            for task in (saver, follower):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            saved = await checkpointer.save()
            log.info("state_saved", series=saved)
            await redis.aclose()
            store_client.close()

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
    # Training reads the history of every shard: a model serves every detector process.
    app.state.history_streams = all_metric_streams(settings.metric_shards)

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
