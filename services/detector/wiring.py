"""The composition root: the detector's parts built once from the settings (``build``, no
I/O), then run with their Redis clients (``Detector.running``, the app's lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.detector.checkpoint import Checkpointer
from services.detector.config import DetectorSettings
from services.detector.consumer import BetweenParts, MetricBatchHandler
from services.detector.detection_engine import FORGET_SLICE, MODEL_VERSION, DetectionEngine
from services.detector.engine_setup import build_engine
from services.detector.metrics import (
    ENTRIES_AWAITING_CHECKPOINT,
    SERIES_FORGOTTEN,
    SERIES_TRACKED,
    show_model_version,
)
from services.detector.model_manager import ModelManager, MultivariateOptions
from services.detector.model_store_redis import RedisModelStore
from services.detector.scoring_pool import ScoringPool
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.deferred_acks import DeferredAcks
from shared.metric_batches import TYPE as BATCH_TYPE
from shared.metric_batches import resources_apart
from shared.stream_group import Fields
from shared.streams import GROUP_DETECTOR, all_metric_streams, metrics_stream

log = structlog.get_logger("detector.wiring")
SILENT_CHECK_S = 60.0  # how often series with an open anomaly are checked for silence
FORGET_CHECK_S = 3600.0  # how often every series is walked for long silence (at most)
MODEL_FOLLOW_S = 2.0  # how soon a version activated by another process is taken up
# The metric shards are read again at most this often while a batch of another shard is
# scored, so that a sample waits for the batch being scored, not for every batch read before.
READ_POLL_MS = 2.0
# Between two parts of a large entry, entries of the other shards up to this size (about one
# part's samples) are scored: a probe sample waits for one part, not for a whole large entry.
BETWEEN_PARTS_BYTES = 8192
FREEZE_CHECK_S = 1.0  # how soon new series' state leaves the garbage collector's sight


class StateFreezer:
    """Moves the series' state out of the cyclic garbage collector's sight (``gc.freeze``)
    each time new series reach a fifth of those frozen last time: a full collection walking
    thousands of long-lived series states stalls the loop for tens of milliseconds, and those
    states are freed by reference counting anyway (forgotten ones too). Freezing only on
    growth bounds what a frozen cycle of garbage could keep; counting the series filed, not
    those held, keeps freezing the new series of a churn that forgetting holds level."""

    def __init__(self, engine: DetectionEngine, freeze: Callable[[], None] = gc.freeze) -> None:
        self.engine = engine
        self.freeze = freeze
        self.frozen_at = 0  # series held at the last freeze
        self.filed_at = 0  # series filed by then

    def __call__(self) -> None:
        series = self.engine.series
        if series.filed - self.filed_at > self.frozen_at * 0.2:
            self.freeze()
            self.frozen_at, self.filed_at = len(series), series.filed


@dataclass
class Detector:
    settings: DetectorSettings
    shards: list[int]
    engine: DetectionEngine
    models: ModelManager
    model_store: RedisModelStore
    scoring_pool: ScoringPool
    # Training reads the history of every shard: a model serves every detector process.
    history_streams: list[str]
    _redis: Redis | None = field(default=None, repr=False)
    checkpointer: Checkpointer | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("the detector is not running")
        return self._redis

    @property
    def checkpointed_series(self) -> int:
        return self.checkpointer.saved_series if self.checkpointer is not None else 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Restore the owned shards' series, take up the active model, then consume the metric
        shards, checkpoint and follow model activations in the background; on exit save every
        changed series."""
        settings = self.settings
        self._redis = redis = Redis.from_url(settings.redis_url)
        # Metric entries are acknowledged once a checkpoint covers what was learned from them.
        acks = DeferredAcks(redis, GROUP_DETECTOR)
        ENTRIES_AWAITING_CHECKPOINT.set_function(lambda: len(acks))
        self.checkpointer = checkpointer = Checkpointer(
            redis, self.engine, settings.metric_shards, acks=acks
        )
        try:
            restored = await checkpointer.load(self.shards)
            log.info("state_restored", series=restored, shards=self.shards)
            imported = await asyncio.to_thread(self.model_store.import_files, settings.model_dir)
            if imported is not None:
                log.info("models_imported", active=imported, model_dir=str(settings.model_dir))
            await self.models.load_current()
            batches = MetricBatchHandler(
                self.engine, EventBus(redis, settings.stream_maxlen), redis, self.models
            )
            consumer = StreamConsumer(
                redis,
                streams=[metrics_stream(s) for s in self.shards],
                group=GROUP_DETECTOR,
                consumer=consumer_name("detector"),
                handler=batches.unexpected,
                batch_handler=batches,
                # Each shard has one detector process: what is pending there at start was
                # left by its predecessor, and goes before anything newer of its series.
                options=replace(consumer_options(settings), poll_ms=READ_POLL_MS, sole_owner=True),
                deferred=acks,
            )
            batches.between_parts = _between_parts(consumer)
            # No series is saved having learned a sample whose anomaly is not written yet.
            checkpointer.before_taking = batches.write_unsent
            consumer.reader.allow_overtaking(metric_entry_overtakes, BETWEEN_PARTS_BYTES)
            freeze = StateFreezer(self.engine)
            freeze()  # the restored state
            background = [
                asyncio.create_task(self._checkpoints(checkpointer)),
                asyncio.create_task(self._freeze_new_state(freeze)),
                asyncio.create_task(self._follow_models()),
            ]
            if settings.silent_after_s > 0:
                background.append(asyncio.create_task(self._close_silent(batches)))
            if settings.forget_after_s > 0:
                background.append(asyncio.create_task(self._forget_silent()))
            try:
                async with running([consumer]):
                    yield
            finally:
                self.scoring_pool.close()
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                saved = await checkpointer.save()
                log.info("state_saved", series=saved)
        finally:
            await redis.aclose()
            self.model_store.redis.close()

    async def _checkpoints(self, checkpointer: Checkpointer) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval_s)
            try:
                await checkpointer.save()
            except Exception as exc:  # keep scoring; the next round retries
                log.warning("checkpoint_failed", error=str(exc))

    @staticmethod
    async def _freeze_new_state(freeze: StateFreezer) -> None:
        """Soon after series appear, not only at the next checkpoint: until then every full
        collection walks their state (hundreds of milliseconds for a few thousand series)."""
        while True:
            await asyncio.sleep(FREEZE_CHECK_S)
            freeze()

    async def _close_silent(self, batches: MetricBatchHandler) -> None:
        """Close the episodes of series gone silent while others kept sending (see
        ``DetectionEngine.close_silent``).
        Their resolutions join the events owed before any await, as a scored part's do: no
        checkpoint saves a closed episode whose resolution is not on the stream."""
        after = self.settings.silent_after_s
        every = min(SILENT_CHECK_S, max(after / 4, 0.05))
        while True:
            await asyncio.sleep(every)
            closed = self.engine.close_silent(after)
            if not closed:
                continue
            batches.unsent += closed
            log.info("silent_series_closed", episodes=len(closed))
            try:
                await batches.write_unsent()
            except Exception as exc:  # kept owed: written with the next entry or checkpoint
                log.warning("events_not_written", unsent=len(batches.unsent), error=str(exc))

    async def _forget_silent(self) -> None:
        """Forget the series silent for ``forget_after_s`` (see
        ``DetectionEngine.forget_silent``); the checkpoint deletes them from Redis."""
        after = self.settings.forget_after_s
        every = min(FORGET_CHECK_S, max(after / 10, 0.05))
        while True:
            await asyncio.sleep(every)
            await forget_silent(self.engine, self.models, after)

    async def _follow_models(self) -> None:
        """Take up a model version activated by another detector process."""
        while True:
            await asyncio.sleep(MODEL_FOLLOW_S)
            try:
                await self.models.follow()
            except Exception as exc:  # keep scoring with the model in hand; retried next round
                log.warning("model_follow_failed", error=str(exc))


async def forget_silent(
    engine: DetectionEngine,
    models: ModelManager,
    after_s: float,
    slice_size: int = FORGET_SLICE,
) -> int:
    """One walk of ``DetectionEngine.forget_silent`` over every series, a slice at a time,
    letting the event loop run between slices; how many series it forgot. The multivariate
    view lets go of the resources left with no series."""
    forgotten = 0
    while True:
        forgetting = engine.forget_silent(after_s, slice_size)
        if forgetting.forgotten:
            forgotten += forgetting.forgotten
            SERIES_FORGOTTEN.inc(forgetting.forgotten)
            models.forget(forgetting.resources)
        if forgetting.done:
            break
        await asyncio.sleep(0)
    log.info("silent_series_forgotten", series=forgotten, tracked=len(engine.series))
    return forgotten


def metric_entry_overtakes(entry: Fields, ahead: Sequence[Fields]) -> bool:
    """A small metric entry goes before the entries queued ahead of it on its shard when none
    of them holds a sample of its resources (every series' samples stay in order)."""
    if entry.get(b"type") != BATCH_TYPE.encode():
        return False
    return resources_apart(entry.get(b"data", b""), [other.get(b"data", b"") for other in ahead])


def _between_parts(consumer: StreamConsumer) -> BetweenParts:
    reader = consumer.reader

    async def between_parts(stream: str) -> None:
        try:
            handed = await reader.hand_over_between(stream, BETWEEN_PARTS_BYTES)
        except (RedisError, OSError) as exc:
            # Only a chance for small entries to go first: the rest of the entry in hand is
            # scored now, in order, not after newer entries of its series (which would skip
            # it). A read lost here is taken over by the loop before anything newer.
            log.warning("read_between_parts_failed", stream=stream, error=str(exc))
            handed = 0
        if not handed:
            await asyncio.sleep(0)  # nothing small waiting: still let the loop run

    return between_parts


def build(settings: DetectorSettings) -> Detector:
    """Every part, no I/O (clients connect in ``Detector.running``)."""
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
    model_store = RedisModelStore(SyncRedis.from_url(settings.redis_url))
    models = ModelManager(
        model_store,
        MultivariateOptions(
            metrics=tuple(settings.multivariate_metrics),
            threshold=settings.multivariate_threshold,
            cooldown_s=settings.multivariate_cooldown_s,
        ),
    )
    return Detector(
        settings=settings,
        shards=settings.owned_shards(),
        engine=engine,
        models=models,
        model_store=model_store,
        scoring_pool=ScoringPool(
            settings.anomaly_api_workers,
            settings.anomaly_api_queue,
            settings.anomaly_api_max_wait_s,
        ),
        history_streams=all_metric_streams(settings.metric_shards),
    )
