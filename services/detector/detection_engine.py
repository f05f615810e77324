"""Per-series detection: the streaming scorer, severity, episodes and feedback (no I/O).

One :class:`SeriesState` per (resource, metric). Samples not newer than the last one seen for
their series (duplicates, redeliveries, out-of-order arrivals) are skipped, never learned twice;
samples further ahead of the detector's clock than ``max_future_s`` are dropped and counted.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.detector.episodes import Episode, Transition, advance
from services.detector.feedback import Feedback
from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import STATE_VERSION, SeriesDetector
from services.detector.scoring.result import ScoreResult
from services.detector.severity import SeverityPolicy
from shared.events import (
    EPOCH,
    AnomalyEvent,
    AnomalyResolved,
    Event,
    MetricBatch,
    MetricSample,
    Severity,
)
from shared.metric_batches import ColumnBatch, from_batch, timestamp_us
from shared.time_bounds import DEFAULT_MAX_FUTURE_S

log = structlog.get_logger("detector.engine")
MODEL_VERSION = f"streaming-v{STATE_VERSION}"
SeriesKey = tuple[str, str]


@dataclass(slots=True)
class SeriesState:
    detector: SeriesDetector
    episode: Episode | None = None
    feedback: Feedback = field(default_factory=Feedback)
    last_ts: float = -math.inf

    def to_state(self) -> dict[str, Any]:
        return {
            "d": self.detector.to_state(),
            "e": self.episode.to_state() if self.episode else None,
            "f": self.feedback.to_state(),
            "t": self.last_ts if math.isfinite(self.last_ts) else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: DetectorConfig) -> SeriesState:
        return cls(
            SeriesDetector.from_state(state["d"], config),
            Episode.from_state(state["e"]) if state.get("e") else None,
            Feedback.from_state(state.get("f")),
            -math.inf if state.get("t") is None else float(state["t"]),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one sample was judged."""

    result: ScoreResult
    alarm: bool
    severity: Severity
    hard_limit: Severity | None


@dataclass(frozen=True, slots=True)
class Step:
    """One sample's verdict (None: skipped) and the event it raised, if any."""

    verdict: Verdict | None
    event: Event | None


SKIPPED = Step(None, None)


class DetectionEngine:
    def __init__(
        self,
        config: DetectorConfig | None = None,
        policy: SeverityPolicy | None = None,
        resolve_after: int = 3,
        max_future_s: float | None = DEFAULT_MAX_FUTURE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or DetectorConfig()
        self.policy = policy or SeverityPolicy()
        self.resolve_after = resolve_after
        # A sample further ahead of this clock than the gateway accepts is dropped, never
        # learned: it would move its series' clock and make every real sample look old.
        self.max_future_s = max_future_s
        self.clock = clock
        self.dropped_from_the_future = 0
        self.series: dict[SeriesKey, SeriesState] = {}
        self.dirty: set[SeriesKey] = set()
        self.samples_scored = 0
        self.unreadable_states = 0

    @classmethod
    def with_warmup(cls, warmup: int, **kwargs: Any) -> DetectionEngine:
        return cls(dataclasses.replace(DetectorConfig(), warmup_samples=warmup), **kwargs)

    def state_of(self, key: SeriesKey) -> SeriesState:
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = SeriesState(SeriesDetector(self.config))
        return state

    def process_batch(self, batch: MetricBatch) -> list[Event]:
        return self.process_columns(from_batch(batch))

    def process_columns(self, batch: ColumnBatch) -> list[Event]:
        """Score every sample of a decoded batch, in order; the events they raised.

        The loop handles the common case itself (a series with no episode open, whose sample
        the scorer found unremarkable and no hard limit covers: nothing to publish) and hands
        anything else to the full path, ``_judged``."""
        events: list[Event] = []
        horizon = math.inf if self.max_future_s is None else self.clock() + self.max_future_s
        labels = batch.labels
        correlation_id = batch.correlation_id
        series = self.series
        mark_dirty = self.dirty.add
        threshold = self.config.alarm_threshold  # feedback only ever raises it
        limits_for = self.policy.limits_for
        scored = 0
        for index, (resource_id, metric, value, micros) in enumerate(
            zip(batch.resource_id, batch.metric, batch.value, batch.timestamp_us, strict=True)
        ):
            ts = micros / 1e6
            if ts > horizon:
                self._drop_from_the_future(resource_id, metric, micros)
                continue
            key = (resource_id, metric)
            state = series.get(key)
            if state is None:
                state = series[key] = SeriesState(SeriesDetector(self.config))
            if ts <= state.last_ts:
                continue
            state.last_ts = ts
            mark_dirty(key)
            scored += 1
            result = state.detector.update(ts, value)
            if result.skipped:
                continue
            if (
                state.episode is None
                and result.score < threshold
                and not result.is_anomaly
                and not limits_for(metric)
            ):
                continue
            event = self._judged(
                state,
                resource_id,
                metric,
                micros,
                value,
                correlation_id,
                labels[index] if labels is not None else None,
                self.verdict_of(state, metric, value, result),
            ).event
            if event is not None:
                events.append(event)
        self.samples_scored += scored
        return events

    def process(self, sample: MetricSample, correlation_id: str) -> Event | None:
        return self.step(
            sample.resource_id,
            sample.metric,
            sample.timestamp,
            sample.value,
            correlation_id,
            sample.labels,
        ).event

    def step(
        self,
        resource_id: str,
        metric: str,
        timestamp: datetime,
        value: float,
        correlation_id: str,
        labels: dict[str, str] | None = None,
    ) -> Step:
        """Score one sample of one series, learn it, and say what it changed."""
        micros = timestamp_us(timestamp)
        if self.max_future_s is not None and micros / 1e6 > self.clock() + self.max_future_s:
            self._drop_from_the_future(resource_id, metric, micros)
            return SKIPPED
        return self.score_sample(resource_id, metric, micros, value, correlation_id, labels)

    def _drop_from_the_future(self, resource_id: str, metric: str, micros: int) -> None:
        self.dropped_from_the_future += 1
        log.warning(
            "sample_from_the_future_dropped",
            series=f"{resource_id}/{metric}",
            timestamp=_moment(micros).isoformat(),
        )

    def score_sample(
        self,
        resource_id: str,
        metric: str,
        micros: int,
        value: float,
        correlation_id: str,
        labels: dict[str, str] | None,
    ) -> Step:
        """``step`` for a sample timed in microseconds since the epoch, already checked
        against the clock: the time becomes a ``datetime`` only for an event."""
        ts = micros / 1e6
        key = (resource_id, metric)
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = SeriesState(SeriesDetector(self.config))
        if ts <= state.last_ts:
            return SKIPPED
        state.last_ts = ts
        self.dirty.add(key)
        self.samples_scored += 1
        verdict = self.judge(state, metric, ts, value)
        if verdict is None:
            return SKIPPED
        return self._judged(
            state, resource_id, metric, micros, value, correlation_id, labels, verdict
        )

    def _judged(
        self,
        state: SeriesState,
        resource_id: str,
        metric: str,
        micros: int,
        value: float,
        correlation_id: str,
        labels: dict[str, str] | None,
        verdict: Verdict,
    ) -> Step:
        """What a judged sample does to its series' episode, and the event it raises."""
        ts = micros / 1e6
        if state.episode is None and not verdict.alarm:
            return Step(verdict, None)  # nothing open, nothing to open: the common case
        result = verdict.result
        low, high = _finite_range(result, value)
        abnormal = verdict.alarm or result.suppressed or not low <= value <= high
        timestamp = _moment(micros)
        state.episode, transition = advance(
            state.episode,
            abnormal=abnormal,
            alarm=verdict.alarm,
            severity=verdict.severity,
            timestamp=ts,
            new_id=lambda: AnomalyEvent.derive_id(resource_id, metric, timestamp),
            resolve_after=self.resolve_after,
            with_duration=self.policy.with_duration,
        )
        episode = transition.episode
        event: Event | None = None
        if episode is not None and transition.kind in ("opened", "escalated"):
            event = _anomaly(
                resource_id,
                metric,
                timestamp,
                value,
                labels or {},
                correlation_id,
                verdict,
                episode,
                event_id(transition),
            )
        elif episode is not None and transition.kind == "resolved":
            event = _resolved(
                resource_id,
                metric,
                timestamp,
                value,
                labels or {},
                correlation_id,
                episode,
                event_id(transition),
            )
        return Step(verdict, event)

    def judge(self, state: SeriesState, metric: str, ts: float, value: float) -> Verdict | None:
        """Score one sample on ``state`` (which learns it); None if it was not scorable."""
        result = state.detector.update(ts, value)
        if result.skipped:
            return None
        return self.verdict_of(state, metric, value, result)

    def verdict_of(
        self, state: SeriesState, metric: str, value: float, result: ScoreResult
    ) -> Verdict:
        """How a scored sample is judged: the model's alarm (feedback, paging gate), its
        severity, and hard limits."""
        threshold = self.config.alarm_threshold + state.feedback.threshold_bias
        model_alarm = (
            not result.warming_up
            and result.score >= threshold
            and not state.feedback.known_normal(value)
            and self.policy.worth_paging(
                result.detectors,
                value,
                result.expected_low,
                result.expected_high,
                self.config.expected_band,
            )
        )
        if result.is_anomaly and not model_alarm:
            state.detector.withdraw_alarm()
        limit = self.policy.hard_limit(metric, value)
        severity = self.policy.from_score(result.score) if model_alarm else Severity.NORMAL
        if limit is not None and limit.rank > severity.rank:
            severity = limit
        return Verdict(result, model_alarm or limit is not None, severity, limit)

    def take_dirty(self, limit: int | None = None) -> dict[SeriesKey, dict[str, Any]]:
        """States changed since they were last taken (for the checkpoint), at most ``limit``."""
        if limit is None or limit >= len(self.dirty):
            keys, self.dirty = self.dirty, set()
        else:
            keys = {self.dirty.pop() for _ in range(limit)}
        return {k: self.series[k].to_state() for k in keys if k in self.series}

    def restore(self, states: Iterable[tuple[SeriesKey, dict[str, Any]]]) -> int:
        """Load saved series; one whose state this version cannot read (an older format, a
        damaged entry) starts afresh rather than stopping the detector."""
        count = 0
        for key, state in states:
            try:
                self.series[key] = SeriesState.from_state(state, self.config)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self.unreadable_states += 1
                log.warning("series_state_unreadable", series=f"{key[0]}/{key[1]}", error=str(exc))
                continue
            count += 1
        return count

    def warming_up(self) -> int:
        warm = self.config.warmup_samples
        return sum(1 for s in self.series.values() if s.detector.n < warm)


def event_id(transition: Transition) -> uuid.UUID:
    """The id of the event a transition publishes, derived from the series and the sample that
    opened its episode (never random, never the clock): a detector that replays samples, after a
    redelivery or a restart from a checkpoint older than its last publish, re-derives the ids it
    already published and every reader deduplicates."""
    episode = transition.episode
    assert episode is not None
    if transition.kind == "opened":
        return episode.anomaly_id
    if transition.kind == "escalated":
        return AnomalyEvent.derive_escalation_id(episode.anomaly_id, episode.severity)
    if transition.kind == "resolved":
        return AnomalyResolved.derive_id(episode.anomaly_id)
    raise ValueError(f"transition {transition.kind!r} publishes nothing")


def _moment(micros: int) -> datetime:
    """The exact UTC time of ``micros`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def _finite_range(result: ScoreResult, value: float) -> tuple[float, float]:
    low, high = result.expected_low, result.expected_high
    if not (math.isfinite(low) and math.isfinite(high)):
        return value, value
    return low, high


def explain(
    metric: str, value: float, low: float, high: float, detectors: list[str], score: float
) -> str:
    where = "above" if value > high else "below" if value < low else "inside"
    text = f"{metric}={value:g} is {where} the expected {low:.4g} to {high:.4g}"
    names = {
        "out_of_range": "beyond anything seen before",
        "level_shift": "a sudden shift from the recent level",
        "novelty": "a sequence of values not seen before",
        "seasonal": "unusual for this time of day or of the week",
        "pattern": "a shape over the last hours not seen before",
        "stuck": "the same value repeated for longer than ever before",
        "hard_limit": "past a hard limit",
    }
    reasons = [names.get(d, d) for d in detectors]
    if reasons:
        text += f" ({', '.join(reasons)})"
    return f"{text}; score {score:.2f}"


def _anomaly(
    resource_id: str,
    metric: str,
    timestamp: datetime,
    value: float,
    labels: dict[str, str],
    correlation_id: str,
    verdict: Verdict,
    episode: Episode,
    anomaly_id: uuid.UUID,
) -> AnomalyEvent:
    result = verdict.result
    low, high = _finite_range(result, value)
    detectors = list(result.detectors)
    if verdict.hard_limit is not None:
        detectors.append("hard_limit")
    return AnomalyEvent(
        event_id=anomaly_id,
        correlation_id=correlation_id,
        resource_id=resource_id,
        metric=metric,
        value=value,
        observed_at=timestamp,
        score=min(max(result.score, 0.0), 1.0),
        severity=episode.severity,
        expected_low=low,
        expected_high=high,
        detectors=detectors,
        model_version=MODEL_VERSION,
        explanation=explain(metric, value, low, high, detectors, result.score),
        labels=dict(labels),
        episode_started_at=datetime.fromtimestamp(episode.started_at, UTC),
        lasted_s=max(timestamp.timestamp() - episode.started_at, 0.0),
    )


def _resolved(
    resource_id: str,
    metric: str,
    timestamp: datetime,
    value: float,
    labels: dict[str, str],
    correlation_id: str,
    episode: Episode,
    resolution_id: uuid.UUID,
) -> AnomalyResolved:
    return AnomalyResolved(
        event_id=resolution_id,
        correlation_id=correlation_id,
        anomaly_id=episode.anomaly_id,
        resource_id=resource_id,
        metric=metric,
        started_at=datetime.fromtimestamp(episode.started_at, UTC),
        resolved_at=timestamp,
        duration_s=max(timestamp.timestamp() - episode.started_at, 0.0),
        peak_severity=episode.severity,
        last_value=value,
        labels=dict(labels),
    )
