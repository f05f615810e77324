"""A detector restarted from a checkpoint older than its last publish replays the samples since
that checkpoint: what it publishes again must carry the ids it published the first time, so that
the remediator's claims (keyed on the anomaly id) and the notifier's deduplication hold."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.detector.detection_engine import DetectionEngine, SeriesKey
from services.detector.model_manager import ModelManager, MultivariateOptions
from services.detector.severity import HardLimit, SeverityPolicy
from shared.events import AnomalyEvent, AnomalyResolved, Event, MetricBatch, MetricSample

START = datetime(2026, 1, 1, tzinfo=UTC)
METRIC = "queue_percent"


def _engine() -> DetectionEngine:
    # A hard limit opens the episode at "low", so that its duration escalates it (to medium
    # after 5 minutes, to high after 10).
    limit = HardLimit(metric=METRIC, above=93, severity="low")
    return DetectionEngine(policy=SeverityPolicy(escalate_after_s=300, hard_limits=(limit,)))


def _batches(values: list[float], offset: int, size: int = 50) -> list[MetricBatch]:
    samples = [
        MetricSample(
            resource_id="queue-1",
            metric=METRIC,
            value=v,
            timestamp=START + timedelta(minutes=offset + i),
        )
        for i, v in enumerate(values)
    ]
    return [
        MetricBatch(samples=samples[i : i + size], correlation_id=f"c{offset + i}")
        for i in range(0, len(samples), size)
    ]


def _history() -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    normal = [min(rng.gauss(90, 2), 92.5) for _ in range(300)]
    # then 20 minutes of normal samples: a minute apart, 15 of them resolve the episode (as
    # three 5-minute periods)
    incident = [93.2 + rng.random() * 0.3 for _ in range(15)] + [
        90.0 + rng.random() for _ in range(20)
    ]
    return normal, incident


def _checkpoint(engine: DetectionEngine) -> list[tuple[SeriesKey, dict[str, Any]]]:
    """What the checkpointer saves, through JSON as in Redis."""
    return [(key, json.loads(json.dumps(state))) for key, state in engine.take_dirty().items()]


def _run(engine: DetectionEngine, batches: list[MetricBatch]) -> list[Event]:
    return [event for batch in batches for event in engine.process_batch(batch)]


def _ids(events: list[Event]) -> list[tuple[str, str, str]]:
    out = []
    for e in events:
        anomaly = str(e.anomaly_id) if isinstance(e, AnomalyResolved) else ""
        out.append((e.TYPE, str(e.event_id), anomaly))
    return out


def test_a_restart_from_a_checkpoint_before_the_episode_republishes_the_same_ids() -> None:
    normal, incident = _history()
    first = _engine()
    _run(first, _batches(normal, 0))
    saved = _checkpoint(first)  # taken before anything was published
    published = _run(first, _batches(incident, 300))
    kinds = [(e.TYPE, getattr(e, "severity", None)) for e in published]
    assert kinds[0] == ("anomaly.detected.v1", "low")
    assert ("anomaly.detected.v1", "high") in kinds  # an escalation
    assert kinds[-1] == ("anomaly.resolved.v1", None)

    restarted = _engine()
    assert restarted.restore(saved) == 1
    # The replay is cut into other batches: ids must not depend on how entries were delivered.
    replayed = _run(restarted, _batches(incident, 300, size=7))
    assert _ids(replayed) == _ids(published)
    opened = published[0]
    assert isinstance(opened, AnomalyEvent)
    resolved = published[-1]
    assert isinstance(resolved, AnomalyResolved)
    assert resolved.anomaly_id == opened.event_id


def test_a_restart_from_a_checkpoint_inside_the_episode_resolves_it_with_the_same_ids() -> None:
    normal, incident = _history()
    first = _engine()
    _run(first, _batches(normal, 0))
    opening, rest = incident[:3], incident[3:]
    published = _run(first, _batches(opening, 300))
    saved = _checkpoint(first)  # the episode is open in this checkpoint
    published += _run(first, _batches(rest, 303))

    restarted = _engine()
    restarted.restore(saved)
    replayed = _run(restarted, _batches(rest, 303))
    assert _ids(replayed) == _ids(published[1:])
    assert {e.TYPE for e in replayed} == {"anomaly.detected.v1", "anomaly.resolved.v1"}


def test_every_event_of_an_episode_has_its_own_id_derived_from_the_episode() -> None:
    normal, incident = _history()
    engine = _engine()
    _run(engine, _batches(normal, 0))
    events = _run(engine, _batches(incident, 300))
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids)  # an escalation is a new event, not a duplicate
    opened = events[0]
    assert opened.event_id == AnomalyEvent.derive_id(
        "queue-1", METRIC, START + timedelta(minutes=300)
    )
    assert events[-1].event_id == AnomalyResolved.derive_id(opened.event_id)


def test_a_multivariate_anomaly_flagged_again_in_the_same_cooldown_window_keeps_its_id(
    tmp_path: Path,
) -> None:
    models = ModelManager(tmp_path, MultivariateOptions(metrics=("cpu", "mem"), cooldown_s=900))
    window = START + timedelta(minutes=30)
    first = models.event_id("web-1", window + timedelta(minutes=2))
    assert models.event_id("web-1", window + timedelta(minutes=14)) == first
    assert models.event_id("web-1", window + timedelta(minutes=15)) != first
    assert models.event_id("web-2", window + timedelta(minutes=2)) != first
