"""Per-series detection state and the decision to raise an anomaly event (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from services.detector.baseline import RobustBaseline, ScoreResult
from services.detector.severity import classify
from shared.events import AnomalyEvent, MetricBatch, MetricSample, Severity

MODEL_VERSION = "robust-baseline-1"


@dataclass
class SeriesState:
    baseline: RobustBaseline
    episode_severity: Severity = Severity.NORMAL


class DetectionEngine:
    """Scores samples per (resource, metric) series and opens anomaly episodes.

    An episode opens on the first anomalous sample and raises one event; a later sample in the
    same episode raises another only if its severity is higher. The episode closes on the first
    normal sample, so a sustained condition is one event, not one per sample.
    """

    def __init__(self, window: int, warmup: int, z_threshold: float) -> None:
        self.window = window
        self.warmup = warmup
        self.z_threshold = z_threshold
        self.series: dict[tuple[str, str], SeriesState] = {}
        self.samples_scored = 0

    def process_batch(self, batch: MetricBatch) -> list[AnomalyEvent]:
        events = []
        for sample in batch.samples:
            event = self.process(sample, batch.correlation_id)
            if event is not None:
                events.append(event)
        return events

    def process(self, sample: MetricSample, correlation_id: str) -> AnomalyEvent | None:
        key = (sample.resource_id, sample.metric)
        state = self.series.get(key)
        if state is None:
            state = SeriesState(RobustBaseline(self.window, self.warmup, self.z_threshold))
            self.series[key] = state
        result = state.baseline.update(sample.timestamp.timestamp(), sample.value)
        if result is None:
            return None
        self.samples_scored += 1
        severity = classify(result.deviation, self.z_threshold) if result.is_anomaly else None
        if severity is None:
            state.episode_severity = Severity.NORMAL
            return None
        if severity.rank <= state.episode_severity.rank:
            return None
        state.episode_severity = severity
        return _anomaly(sample, result, severity, correlation_id)


def _anomaly(
    sample: MetricSample, result: ScoreResult, severity: Severity, correlation_id: str
) -> AnomalyEvent:
    direction = "above" if result.deviation > 0 else "below"
    return AnomalyEvent(
        event_id=AnomalyEvent.derive_id(sample.resource_id, sample.metric, sample.timestamp),
        correlation_id=correlation_id,
        resource_id=sample.resource_id,
        metric=sample.metric,
        value=sample.value,
        observed_at=sample.timestamp,
        score=result.score,
        severity=severity,
        expected_low=result.expected_low,
        expected_high=result.expected_high,
        detectors=list(result.detectors),
        model_version=MODEL_VERSION,
        explanation=(
            f"{sample.metric}={sample.value:g} is {abs(result.deviation):.1f} robust standard "
            f"deviations {direction} its recent median"
        ),
        labels=dict(sample.labels),
    )
