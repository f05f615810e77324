"""The detector's multivariate models: the live view, training jobs, versions.

Owns the model store, the active model (swapped atomically: one reference assignment on the
event loop), the training jobs and the multivariate anomaly events.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from services.detector.metrics import NO_MODEL, show_model_version
from services.detector.model_store import (
    CorruptModelError,
    ModelDoesNotFitError,
    ModelStore,
    UntrustedModelError,
    VersionStore,
)
from services.detector.multivariate_live import MultivariateScorer, ResourceFeatures, ResourceScaler
from services.detector.training import (
    Sample,
    TimeRange,
    TrainingJob,
    build_training_set,
    train,
)
from shared.events import EPOCH, AnomalyEvent, EventDecodeError, MetricBatch, Severity
from shared.metric_batches import ColumnBatch, decode_columns

log = structlog.get_logger("detector.models")
TRAINING_RUNS = Counter("ml_training_runs_total", "Training runs, by outcome.", ["status"])
MULTIVARIATE = "multivariate"


#: Finished training jobs kept for GET /anomaly/train/{id} (the newest).
KEPT_JOBS = 50


@dataclass(frozen=True)
class MultivariateOptions:
    metrics: tuple[str, ...]
    min_metrics: int = 2
    bucket_s: float = 60.0
    max_age_s: float = 300.0
    threshold: float = 0.999
    cooldown_s: float = 900.0
    flush_every: int = 500
    flush_interval_s: float = 1.0


class ModelManager:
    """``store``: a ``RedisModelStore`` in the service (shared by every detector process), or
    a directory of model files."""

    def __init__(self, store: VersionStore | Path, options: MultivariateOptions) -> None:
        self.store = store if isinstance(store, VersionStore) else ModelStore(store)
        self.options = options
        self.scorer: MultivariateScorer | None = None
        self.version: str | None = None
        self._unfit: str | None = None  # the store's current version, found not to fit
        self.jobs: dict[str, TrainingJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_flagged: dict[str, float] = {}
        # Latest sample time (microseconds since the epoch) and labels of each resource changed
        # since the last flush: made a datetime and copied only for an event.
        # per resource: its latest sample's time, labels and sender (shared.events.SentBy)
        self._latest: dict[str, tuple[int, dict[str, str] | None, str | None]] = {}
        self._last_flush = time.monotonic()
        show_model_version(MULTIVARIATE, NO_MODEL)

    # -- versions ------------------------------------------------------------------------------

    async def load_current(self) -> None:
        """Take up the store's current version, if it fits this detector's metrics: one
        trained on another ``SCOPS_MULTIVARIATE_METRICS`` list (changed since, or set
        otherwise on another process) leaves the multivariate view off, said once in the
        log, and every series still scored."""
        version = await asyncio.to_thread(self.store.current)
        if version is not None:
            await self._take_up(version)

    async def follow(self) -> bool:
        """Take up the store's current version if another process changed it (activated a
        version it trained, or rolled back); True when it did."""
        version = await asyncio.to_thread(self.store.current)
        if version is None or version in (self.version, self._unfit):
            return False
        return await self._take_up(version)

    async def _take_up(self, version: str) -> bool:
        try:
            await self._swap(version)
        except (ModelDoesNotFitError, CorruptModelError, UntrustedModelError) as exc:
            self._unfit = version
            log.error("model_does_not_fit", version=version, reason=str(exc))
            return False
        return True

    async def activate(self, version: str) -> None:
        """Make ``version`` the active one, unless it does not fit (nothing moves then)."""
        await asyncio.to_thread(self.store.activate, version, self._check_fit)
        await self._swap(version)

    async def rollback(self) -> str:
        version = await asyncio.to_thread(self.store.rollback, self._check_fit)
        await self._swap(version)
        return version

    def _check_fit(self, version: str) -> None:
        """Raises unless ``version`` loads (:class:`CorruptModelError`: a damaged file, or
        one written by another library version) and was trained on exactly the metrics this
        detector is configured with (:class:`ModelDoesNotFitError`): checked before the
        shared pointer moves, so no process is ever pointed at a model it cannot use."""
        model, _meta = self.store.load(version)
        self._fits(version, model.feature_names)

    def _fits(self, version: str, trained: Sequence[str]) -> None:
        if tuple(trained) != tuple(self.options.metrics):
            raise ModelDoesNotFitError(
                f"{version} was trained on {', '.join(trained)}; this detector scores "
                f"{', '.join(self.options.metrics)} (SCOPS_MULTIVARIATE_METRICS)"
            )

    async def _swap(self, version: str) -> None:
        model, meta = await asyncio.to_thread(self.store.load, version)
        self._fits(version, model.feature_names)
        scaler = ResourceScaler.from_state(meta.get("scaler", {}))
        features = ResourceFeatures(
            self.options.metrics,
            min_metrics=self.options.min_metrics,
            max_age_s=self.options.max_age_s,
        )
        if self.scorer is not None:
            features = self.scorer.features  # keep the latest values already seen
        self.scorer = MultivariateScorer(
            model, features, scaler=scaler, threshold=self.options.threshold
        )
        show_model_version(MULTIVARIATE, version, replaces=self.version or NO_MODEL)
        self.version = version
        log.info("model_activated", version=version, resources=len(scaler))

    def versions(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in meta.items() if k != "scaler"} for meta in self.store.list_versions()
        ]

    # -- training ------------------------------------------------------------------------------

    def running_job(self) -> TrainingJob | None:
        """The job still reading or fitting, if any: one at a time per process (each holds
        its samples in memory and a core busy)."""
        return next((j for j in self.jobs.values() if j.status in ("queued", "running")), None)

    def start_training(
        self, source: str, samples: AsyncIterator[Sample], exclude: Sequence[TimeRange]
    ) -> TrainingJob:
        job = TrainingJob(source=source)
        self.jobs[job.job_id] = job
        for old in list(self.jobs)[:-KEPT_JOBS]:  # the oldest, finished ones (one runs at most)
            if self.jobs[old].status not in ("queued", "running"):
                del self.jobs[old]
        task = asyncio.create_task(self._train(job, samples, exclude))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)
        return job

    async def _train(
        self, job: TrainingJob, samples: AsyncIterator[Sample], exclude: Sequence[TimeRange]
    ) -> None:
        opts = self.options
        try:
            job.advance("reading samples", 0.05)
            collected = [s async for s in samples]
            job.advance("building features", 0.3)
            training = await asyncio.to_thread(
                build_training_set,
                collected,
                opts.metrics,
                bucket_s=opts.bucket_s,
                min_metrics=opts.min_metrics,
                exclude=exclude,
            )
            job.advance("training", 0.5)
            model = await asyncio.to_thread(train, training, opts.metrics, 0, opts.threshold)
            job.advance("saving", 0.85)
            meta = {
                "trained_on": {**training.description, "source": job.source},
                "scaler": training.scaler.to_state(),
                "job_id": job.job_id,
            }
            version = await asyncio.to_thread(self.store.save, model, meta)
            await self.activate(version)
            job.version, job.trained_on = version, training.description
            job.holdout = model.metadata
            job.status, job.stage, job.progress = "succeeded", "done", 1.0
            TRAINING_RUNS.labels(status="succeeded").inc()
        except Exception as exc:
            job.status, job.stage, job.error = "failed", "failed", str(exc)[:500]
            TRAINING_RUNS.labels(status="failed").inc()
            log.warning("training_failed", job_id=job.job_id, error=str(exc))

    # -- live view -----------------------------------------------------------------------------

    def observe(self, batch: ColumnBatch) -> list[AnomalyEvent]:
        """Feed a batch to the live view; every ``flush_every`` changed resources, score them."""
        scorer = self.scorer
        if scorer is None:
            return []
        update, latest = scorer.update, self._latest
        watched = frozenset(scorer.features.metrics)
        labels = batch.labels
        for index, (resource_id, metric, value, micros) in enumerate(
            zip(batch.resource_id, batch.metric, batch.value, batch.timestamp_us, strict=True)
        ):
            if metric in watched and update(resource_id, metric, micros / 1e6, value):
                latest[resource_id] = (
                    micros,
                    labels[index] if labels is not None else None,
                    batch.sent_by,
                )
        due = time.monotonic() - self._last_flush >= self.options.flush_interval_s
        if scorer.pending < self.options.flush_every and not due:
            return []
        return self.flush(batch.correlation_id)

    def forget(self, resources: Iterable[str]) -> None:
        """Let go of what the live view holds of resources whose every series the detector
        forgot (silent for ``SCOPS_FORGET_AFTER_S``): their latest values and cooldowns."""
        scorer = self.scorer
        for resource_id in resources:
            self._last_flagged.pop(resource_id, None)
            if scorer is not None:
                scorer.features.forget(resource_id)

    def flush(self, correlation_id: str) -> list[AnomalyEvent]:
        scorer = self.scorer
        self._last_flush = time.monotonic()
        if scorer is None or not scorer.pending:
            return []
        events = []
        seen, self._latest = self._latest, {}
        for flagged in scorer.flush():
            last = seen.get(flagged.resource_id)
            sent_by = None
            if last is None:
                at, labels = datetime.now(UTC), {}
            else:
                at, labels = EPOCH + timedelta(microseconds=last[0]), dict(last[1] or {})
                sent_by = last[2]
            ts = at.timestamp()
            if (
                ts - self._last_flagged.get(flagged.resource_id, float("-inf"))
                < self.options.cooldown_s
            ):
                continue
            self._last_flagged[flagged.resource_id] = ts
            events.append(
                self._event(
                    flagged.resource_id,
                    flagged.score,
                    flagged.metrics,
                    at,
                    labels,
                    correlation_id,
                    sent_by,
                )
            )
        self._latest = {}
        return events

    def event_id(self, resource_id: str, at: datetime) -> uuid.UUID:
        """Derived from the resource and the cooldown window the flagged sample falls in, not
        from the sample itself: which sample a flush sees last depends on batching and the
        clock, so a replay (after a restart from an older checkpoint, which also forgets the
        cooldowns) may flag another sample of the same window, and must publish the same id."""
        cooldown = self.options.cooldown_s
        ts = at.timestamp()
        window = ts - ts % cooldown if cooldown > 0 else ts
        return AnomalyEvent.derive_id(
            resource_id, MULTIVARIATE, datetime.fromtimestamp(window, UTC)
        )

    def _event(
        self,
        resource_id: str,
        score: float,
        metrics: Iterable[str],
        at: datetime,
        labels: dict[str, str],
        correlation_id: str,
        sent_by: str | None = None,
    ) -> AnomalyEvent:
        contributing = list(metrics)
        severity = Severity.MEDIUM if score >= 1.0 else Severity.LOW
        what = ", ".join(contributing) or "several metrics"
        return AnomalyEvent(
            event_id=self.event_id(resource_id, at),
            correlation_id=correlation_id,
            resource_id=resource_id,
            metric=MULTIVARIATE,
            value=score,
            observed_at=at,
            score=min(max(score, 0.0), 1.0),
            severity=severity,
            expected_low=0.0,
            expected_high=self.options.threshold,
            detectors=["isolation_forest"],
            contributing_metrics=contributing,
            model_version=self.version or "none",
            explanation=(
                f"unusual combination of {what} for {resource_id}: beyond "
                f"{score * 100:.2f}% of what the model saw in training"
            ),
            labels=labels,
            episode_started_at=at,
            sent_by=sent_by,
        )


async def history(
    redis: Redis, streams: Sequence[str], since: datetime, until: datetime
) -> AsyncIterator[Sample]:
    """Samples in the metric streams whose timestamps fall in [since, until]."""
    lo, hi = since.timestamp(), until.timestamp()
    for stream in streams:
        start: str = "-"
        while True:
            rows = await redis.xrange(stream, min=start, max="+", count=1000)
            for entry_id, fields in rows:
                start = "(" + entry_id.decode()
                if fields.get(b"type") != MetricBatch.TYPE.encode():
                    continue
                try:
                    batch = decode_columns(fields[b"data"])
                except EventDecodeError:
                    continue
                for resource_id, metric, value, micros in zip(
                    batch.resource_id, batch.metric, batch.value, batch.timestamp_us, strict=True
                ):
                    ts = micros / 1e6
                    if lo <= ts <= hi:
                        yield resource_id, metric, ts, value
            if len(rows) < 1000:
                break
