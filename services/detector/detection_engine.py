"""Per-series detection: the streaming scorer, severity, episodes and feedback (no I/O).

One :class:`SeriesState` per (resource, metric). Samples not newer than the last one seen for
their series (duplicates, redeliveries, out-of-order arrivals) are skipped, never learned twice;
samples further ahead of the detector's clock than ``max_future_s`` are dropped and counted.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import structlog

from services.detector.episodes import Episode, Transition, advance
from services.detector.feedback import Feedback
from services.detector.scoring.config import DetectorConfig
from services.detector.scoring.detector import STATE_VERSION, SeriesDetector
from services.detector.scoring.result import ScoreResult
from services.detector.severity import SeverityPolicy
from shared.events import (
    EPOCH,
    NO_DATA,
    RECOVERED,
    AnomalyEvent,
    AnomalyResolved,
    Event,
    MetricBatch,
    MetricSample,
    Severity,
)
from shared.metric_batches import ColumnBatch, from_batch, timestamp_us
from shared.readable_numbers import value_and_band
from shared.time_bounds import DEFAULT_MAX_FUTURE_S

log = structlog.get_logger("detector.engine")
MODEL_VERSION = f"streaming-v{STATE_VERSION}"
SeriesKey = tuple[str, str]
# ``SeriesTable.sweep``: what dropping a state costs, in states walked (measured: about 0.15 us
# to walk past a state heard from, 5 us to free one), and the work of one call (about 1 ms).
DROP_COST = 32
FORGET_SLICE = 4096


class SeriesState:
    """One series' scorer, open episode, feedback and clock.

    Kept for every series, so small: slots, and the feedback (set on few series) made only
    when first asked for. ``resource_id`` and ``metric`` are the names it is filed under in
    the engine (the same string objects as the table's keys); ``changed``: queued for the
    next checkpoint."""

    __slots__ = ("_feedback", "changed", "detector", "episode", "last_ts", "metric", "resource_id")

    def __init__(
        self,
        detector: SeriesDetector,
        episode: Episode | None = None,
        feedback: Feedback | None = None,
        last_ts: float = -math.inf,
    ) -> None:
        self.detector = detector
        self.episode = episode
        self._feedback = feedback
        self.last_ts = last_ts
        self.resource_id = ""
        self.metric = ""
        self.changed = False

    @property
    def feedback(self) -> Feedback:
        feedback = self._feedback
        if feedback is None:
            feedback = self._feedback = Feedback()
        return feedback

    def to_state(self) -> dict[str, Any]:
        return {
            "d": self.detector.to_state(),
            "e": self.episode.to_state() if self.episode else None,
            "f": self._feedback.to_state() if self._feedback is not None else None,
            "t": self.last_ts if math.isfinite(self.last_ts) else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: DetectorConfig) -> SeriesState:
        feedback = state.get("f")
        return cls(
            SeriesDetector.from_state(state["d"], config),
            Episode.from_state(state["e"]) if state.get("e") else None,
            Feedback.from_state(feedback) if feedback else None,
            -math.inf if state.get("t") is None else float(state["t"]),
        )


class SeriesTable(Mapping[SeriesKey, SeriesState]):
    """Every series' state by (resource, metric), kept as one dict of resources per metric:
    no key tuple per series, and a lookup is one string-keyed dict after the metric's (which
    a batch mostly repeats). A metric name is stored once (interned), a resource's name once
    for all its metrics.

    Each state filed is also appended to a list, which ``sweep`` walks a slice at a time:
    the dicts cannot be walked in slices while batches add series between them, and copying
    a million values at once holds the event loop for tens of milliseconds."""

    __slots__ = ("_count", "_kept", "_order", "_walked", "by_metric", "filed")

    def __init__(self) -> None:
        self.by_metric: dict[str, dict[str, SeriesState]] = {}
        self._count = 0
        self.filed = 0  # series filed so far, those since dropped included
        self._order: list[SeriesState] = []  # every state filed, in order (some since replaced)
        self._kept: list[SeriesState] = []  # the states the walk under way kept
        self._walked = 0  # where in ``_order`` the walk under way is

    def __getitem__(self, key: SeriesKey) -> SeriesState:
        resource_id, metric = key
        return self.by_metric[metric][resource_id]

    def get(self, key: SeriesKey, default: Any = None) -> Any:
        table = self.by_metric.get(key[1])
        return default if table is None else table.get(key[0], default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        table = self.by_metric.get(key[1])
        return table is not None and key[0] in table

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[SeriesKey]:
        for metric, table in self.by_metric.items():
            for resource_id in table:
                yield resource_id, metric

    def states(self) -> Iterator[SeriesState]:
        for table in self.by_metric.values():
            yield from table.values()

    def holds_resource(self, resource_id: str) -> bool:
        """Whether any series of ``resource_id`` is held (a lookup per metric)."""
        return any(resource_id in table for table in self.by_metric.values())

    def table(self, metric: str) -> dict[str, SeriesState]:
        """The states of ``metric``'s series by resource (created empty if new)."""
        table = self.by_metric.get(metric)
        if table is None:
            table = self.by_metric[sys.intern(metric)] = {}
        return table

    def file(self, resource_id: str, metric: str, state: SeriesState) -> SeriesState:
        """Put ``state`` under (``resource_id``, ``metric``), in place of any state there."""
        metric = sys.intern(metric)
        table = self.table(metric)
        known = table.get(resource_id)
        if known is not None:
            resource_id = known.resource_id
        else:
            self._count += 1
            self.filed += 1
            for other in self.by_metric.values():  # the resource's name, once for all metrics
                sibling = other.get(resource_id)
                if sibling is not None:
                    resource_id = sibling.resource_id
                    break
        state.resource_id, state.metric = resource_id, metric
        table[resource_id] = state
        self._order.append(state)
        return state

    def sweep(
        self, heard_since: float, keep: Callable[[SeriesState], bool], limit: int
    ) -> tuple[list[SeriesState], bool]:
        """Walk on from where the previous call stopped, and drop the states not heard from
        since ``heard_since`` that ``keep`` refuses; the states dropped, and whether the walk
        reached its end (the next call starts a new one). Series filed meanwhile are walked
        too. ``limit`` bounds the work: a state heard from (most are) costs one, a state
        dropped ``DROP_COST`` (freeing its memory takes that much longer)."""
        order, index = self._order, self._walked
        end = len(order)
        kept, dropped = self._kept, []
        by_metric = self.by_metric
        budget = limit
        while index < end and budget > 0:
            state = order[index]
            index += 1
            budget -= 1
            if state.last_ts >= heard_since:
                kept.append(state)
                continue
            table = by_metric.get(state.metric)
            if table is None or table.get(state.resource_id) is not state:
                continue  # replaced (a restore) since it was filed: the walk lets it go
            if keep(state):
                kept.append(state)
                continue
            del table[state.resource_id]
            self._count -= 1
            if not table:
                del by_metric[state.metric]
            dropped.append(state)
            budget -= DROP_COST
        if index < end:
            self._walked = index
            return dropped, False
        self._order, self._kept, self._walked = kept, [], 0
        return dropped, True


class ChangedSeries:
    """The series changed since the checkpoint last took them, oldest first, each once (its
    ``changed`` flag says it is queued): marking a series costs a flag test per sample, not a
    set insertion of its key. Read like the set of their keys (``len``, ``in``, ``add``,
    ``update``)."""

    __slots__ = ("_queue", "_series")

    def __init__(self, series: SeriesTable) -> None:
        self._series = series
        self._queue: deque[SeriesState] = deque()

    def mark(self, state: SeriesState) -> None:
        if not state.changed:
            state.changed = True
            self._queue.append(state)

    def add(self, key: SeriesKey) -> None:
        state = self._series.get(key)
        if state is not None:
            self.mark(state)

    def update(self, keys: Iterable[SeriesKey]) -> None:
        for key in keys:
            self.add(key)

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, key: object) -> bool:
        state = self._series.get(key) if isinstance(key, tuple) else None
        return state is not None and state.changed

    def take(self, limit: int | None = None) -> list[SeriesState]:
        """Up to ``limit`` (default: all) changed series, no longer marked."""
        queue, series = self._queue, self._series
        taken: list[SeriesState] = []
        wanted = len(queue) if limit is None else limit
        while queue and len(taken) < wanted:
            state = queue.popleft()
            if not state.changed:
                continue
            state.changed = False
            if series.get((state.resource_id, state.metric)) is state:  # not replaced since
                taken.append(state)
        return taken


class Verdict(NamedTuple):
    """How one sample was judged (a named tuple: one is built per sample, and a frozen
    dataclass costs twice as much to build)."""

    result: ScoreResult
    alarm: bool
    severity: Severity
    hard_limit: Severity | None


class Step(NamedTuple):
    """One sample's verdict (None: skipped) and the event it raised, if any."""

    verdict: Verdict | None
    event: Event | None


SKIPPED = Step(None, None)


class Forgetting(NamedTuple):
    """What one slice of ``forget_silent`` did: series forgotten, the resources left with no
    series, and whether the walk over every series ended with it."""

    forgotten: int
    resources: list[str]
    done: bool


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
        self.series = SeriesTable()
        self.dirty = ChangedSeries(self.series)
        self.samples_scored = 0
        self.unreadable_states = 0
        # The newest sample time this engine has seen, of any series: the clock a series'
        # silence is measured on (if every series stops, ingestion stopped: nothing is closed).
        self.latest_ts = -math.inf
        # The series with an episode open: what the silence check looks at (not every series).
        self.open_episodes: set[SeriesState] = set()
        # The series forgotten and not yet deleted from the checkpoint, and how many so far.
        self.forgotten: set[SeriesKey] = set()
        self.series_forgotten = 0

    @classmethod
    def with_warmup(cls, warmup: int, **kwargs: Any) -> DetectionEngine:
        return cls(dataclasses.replace(DetectorConfig(), warmup_samples=warmup), **kwargs)

    def state_of(self, key: SeriesKey) -> SeriesState:
        state: SeriesState | None = self.series.get(key)
        if state is None:
            state = self.series.file(*key, SeriesState(SeriesDetector(self.config)))
        return state

    def process_batch(self, batch: MetricBatch) -> list[Event]:
        return self.process_columns(from_batch(batch))

    def process_columns(self, batch: ColumnBatch) -> list[Event]:
        """Score every sample of a decoded batch, in order; the events they raised.

        The loop handles the common case itself (a series with no episode open, whose sample
        the scorer found unremarkable and no hard limit covers: nothing to publish) and hands
        anything else to the full path, ``_judged``."""
        if batch.timestamp_us:
            newest = max(batch.timestamp_us) / 1e6
            if self.max_future_s is not None:
                horizon = self.clock() + self.max_future_s
                if newest > horizon:
                    batch = self._without_the_future(batch, horizon)
                    newest = max(batch.timestamp_us, default=0) / 1e6
            if newest > self.latest_ts:
                self.latest_ts = newest
        events: list[Event] = []
        labels = batch.labels
        correlation_id = batch.correlation_id
        sent_by = batch.sent_by
        series = self.series
        mark_changed = self.dirty.mark
        threshold = self.config.alarm_threshold  # feedback only ever raises it
        limits_for = self.policy.limits_for
        current: str | None = None  # the metric of the previous sample, and its series
        table: dict[str, SeriesState] = {}
        limited = False
        stale = 0
        for index, (resource_id, metric, value, micros) in enumerate(
            zip(batch.resource_id, batch.metric, batch.value, batch.timestamp_us, strict=True)
        ):
            if metric != current:
                current = metric
                table = series.table(metric)
                limited = bool(limits_for(metric))
            ts = micros / 1e6
            state = table.get(resource_id)
            if state is None:
                state = series.file(resource_id, metric, SeriesState(SeriesDetector(self.config)))
            elif ts <= state.last_ts:
                stale += 1
                continue
            state.last_ts = ts
            if not state.changed:
                mark_changed(state)
            result = state.detector.update(ts, value)
            if result.skipped:
                continue
            if (
                state.episode is None
                and result.score < threshold
                and not result.is_anomaly
                and not limited
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
                sent_by,
            ).event
            if event is not None:
                events.append(event)
        self.samples_scored += len(batch.resource_id) - stale
        return events

    def _without_the_future(self, batch: ColumnBatch, horizon: float) -> ColumnBatch:
        """``batch`` without its samples timed after ``horizon`` (dropped and counted)."""
        keep: list[int] = []
        for index, (resource_id, metric, micros) in enumerate(
            zip(batch.resource_id, batch.metric, batch.timestamp_us, strict=True)
        ):
            if micros / 1e6 > horizon:
                self._drop_from_the_future(resource_id, metric, micros)
            else:
                keep.append(index)
        labels = batch.labels
        return ColumnBatch(
            batch.event_id,
            batch.correlation_id,
            batch.occurred_at,
            [batch.resource_id[i] for i in keep],
            [batch.metric[i] for i in keep],
            [batch.value[i] for i in keep],
            [batch.timestamp_us[i] for i in keep],
            [labels[i] for i in keep] if labels is not None else None,
            batch.sent_by,
        )

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
        sent_by: str | None = None,
    ) -> Step:
        """Score one sample of one series, learn it, and say what it changed (``sent_by``: the
        person whose key sent it, named by the anomaly it raises)."""
        micros = timestamp_us(timestamp)
        if self.max_future_s is not None and micros / 1e6 > self.clock() + self.max_future_s:
            self._drop_from_the_future(resource_id, metric, micros)
            return SKIPPED
        return self.score_sample(
            resource_id, metric, micros, value, correlation_id, labels, sent_by
        )

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
        sent_by: str | None = None,
    ) -> Step:
        """``step`` for a sample timed in microseconds since the epoch, already checked
        against the clock: the time becomes a ``datetime`` only for an event."""
        ts = micros / 1e6
        state = self.series.table(metric).get(resource_id)
        if state is None:
            state = self.series.file(resource_id, metric, SeriesState(SeriesDetector(self.config)))
        elif ts <= state.last_ts:
            return SKIPPED
        state.last_ts = ts
        if ts > self.latest_ts:
            self.latest_ts = ts
        self.dirty.mark(state)
        self.samples_scored += 1
        verdict = self.judge(state, metric, ts, value)
        if verdict is None:
            return SKIPPED
        return self._judged(
            state, resource_id, metric, micros, value, correlation_id, labels, verdict, sent_by
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
        sent_by: str | None = None,
    ) -> Step:
        """What a judged sample does to its series' episode, and the event it raises."""
        ts = micros / 1e6
        if state.episode is None and not verdict.alarm:
            return Step(verdict, None)  # nothing open, nothing to open: the common case
        result = verdict.result
        low, high = _finite_range(result, value)
        abnormal = (
            verdict.alarm
            or result.suppressed
            or not low <= value <= high
            or state.detector.stuck  # still frozen: not recovered, however quiet its score
        )
        timestamp = _moment(micros)
        state.episode, transition = advance(
            state.episode,
            abnormal=abnormal,
            alarm=verdict.alarm,
            severity=verdict.severity,
            timestamp=ts,
            new_id=lambda: AnomalyEvent.derive_id(resource_id, metric, timestamp),
            # as many alarm periods as a 5-minute series needs samples: a series scraped
            # every 15 s is not back to normal after 45 s of it
            resolve_after=self.resolve_after * state.detector.samples_per_alarm_period(),
            with_duration=self.policy.with_duration,
        )
        if state.episode is None:
            self.open_episodes.discard(state)
        else:
            self.open_episodes.add(state)
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
                sent_by,
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

    def close_silent(self, after_s: float) -> list[AnomalyResolved]:
        """Close the episode of every series that has sent nothing for ``after_s`` seconds
        (or ten of its typical intervals, if longer) while others kept sending (measured on
        ``latest_ts``): a terminated instance or a deleted pod never sends the normal samples
        that would resolve it. Each resolution says ``no_data``: the series went silent, it
        did not recover. Its id is the episode's usual resolution id, so a replay publishes
        the same one."""
        now = self.latest_ts
        closed: list[AnomalyResolved] = []
        for state in list(self.open_episodes):
            episode = state.episode
            assert episode is not None  # the set holds the series with one open
            silent_for = now - state.last_ts
            if silent_for <= after_s or silent_for <= 10.0 * state.detector.dt_typical:
                continue
            last = datetime.fromtimestamp(state.last_ts, UTC)
            closed.append(
                _resolved(
                    state.resource_id,
                    state.metric,
                    last,
                    state.detector.last_value,
                    {},
                    uuid.uuid4().hex,
                    episode,
                    AnomalyResolved.derive_id(episode.anomaly_id),
                    reason=NO_DATA,
                )
            )
            state.episode = None
            self.open_episodes.discard(state)
            self.dirty.mark(state)
        return closed

    def forget_silent(self, after_s: float, limit: int = FORGET_SLICE) -> Forgetting:
        """Walk on over the series, from where the previous call stopped (``limit``: see
        ``SeriesTable.sweep``), and forget those that have sent nothing for ``after_s``
        seconds, or ten of their typical intervals if longer, measured on ``latest_ts`` like
        ``close_silent`` (if every series stops, nothing is forgotten). A series with an
        episode open is kept: ``close_silent`` closes it first. A forgotten series leaves
        memory, and its key waits in ``forgotten`` for the checkpoint to delete it; if it
        sends again, it starts afresh (a new warm-up, no feedback).

        One call is one slice of a walk over every series: let the event loop run between
        calls until one says ``done``. Series that batches file meanwhile are walked too."""
        now = self.latest_ts

        def keep(state: SeriesState) -> bool:  # asked of those silent for over ``after_s``
            return state.episode is not None or now - state.last_ts <= (
                10.0 * state.detector.dt_typical
            )

        dropped, done = self.series.sweep(now - after_s, keep, limit)
        for state in dropped:
            self.open_episodes.discard(state)
            self.forgotten.add((state.resource_id, state.metric))
        self.series_forgotten += len(dropped)
        resources = {state.resource_id for state in dropped}
        gone = [r for r in resources if not self.series.holds_resource(r)]
        return Forgetting(len(dropped), gone, done)

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
        feedback = state._feedback
        threshold = self.config.alarm_threshold
        if feedback is not None:
            threshold += feedback.threshold_bias
        model_alarm = (
            not result.warming_up
            and result.score >= threshold
            and (feedback is None or not feedback.known_normal(value))
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
        return {(s.resource_id, s.metric): s.to_state() for s in self.dirty.take(limit)}

    def restore(self, states: Iterable[tuple[SeriesKey, dict[str, Any]]]) -> int:
        """Load saved series; one whose state this version cannot read (an older format, a
        damaged entry) starts afresh rather than stopping the detector."""
        count = 0
        for key, state in states:
            try:
                restored = SeriesState.from_state(state, self.config)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self.unreadable_states += 1
                log.warning("series_state_unreadable", series=f"{key[0]}/{key[1]}", error=str(exc))
                continue
            replaced: SeriesState | None = self.series.get(key)
            self.series.file(*key, restored)
            if replaced is not None:
                self.open_episodes.discard(replaced)
            if restored.episode is not None:
                self.open_episodes.add(restored)
            if restored.last_ts > self.latest_ts:
                self.latest_ts = restored.last_ts
            if replaced is not None and replaced.changed:  # still to be saved: as restored
                replaced.changed = False
                self.dirty.mark(restored)
            count += 1
        return count

    def warming_up(self) -> int:
        warm = self.config.warmup_samples
        return sum(1 for s in self.series.states() if s.detector.n < warm)


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
    """The expected band as published: the value itself when there is none, and an edge
    that is only a float's rounding away from 0 (a baseline that decayed back towards a
    series resting at 0 is ~1e-11, not 0) written as 0: "expected 0 to 0", not
    "-8.342e-11 to 1.024e-10"."""
    low, high = result.expected_low, result.expected_high
    if not (math.isfinite(low) and math.isfinite(high)):
        return value, value
    noise = _ROUNDING * max(abs(value), abs(low), abs(high))
    if abs(low) < noise:
        low = 0.0
    if abs(high) < noise:
        high = 0.0
    return low, high


_ROUNDING = 1e-9  # relative: what sums of floats leave behind where the exact answer is 0


def explain(
    metric: str, value: float, low: float, high: float, detectors: list[str], score: float
) -> str:
    where = "above" if value > high else "below" if value < low else "inside"
    shown_value, shown_low, shown_high = value_and_band(value, low, high)
    text = f"{metric}={shown_value} is {where} the expected {shown_low} to {shown_high}"
    names = {
        "out_of_range": "beyond anything seen before",
        "level_shift": "far from its usual level (recent, or for this time of day or week)",
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
    sent_by: str | None = None,
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
        sent_by=sent_by,
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
    reason: str = RECOVERED,
) -> AnomalyResolved:
    return AnomalyResolved(
        reason=reason,
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
