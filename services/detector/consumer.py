"""The detector's stream handler: score a metric batch, publish what is anomalous."""

from __future__ import annotations

import structlog

from services.detector.engine import DetectionEngine
from services.detector.metrics import ANOMALIES_DETECTED, PREDICTIONS, SCORING_SECONDS
from shared.bus import EventBus, StreamEntry
from shared.events import MetricBatch
from shared.streams import ANOMALIES

log = structlog.get_logger("detector.consumer")


class MetricBatchHandler:
    def __init__(self, engine: DetectionEngine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus

    async def __call__(self, entry: StreamEntry) -> None:
        batch = entry.event
        if not isinstance(batch, MetricBatch):
            log.warning("unexpected_event", type=batch.TYPE)
            return
        with SCORING_SECONDS.time():
            anomalies = self.engine.process_batch(batch)
        PREDICTIONS.inc(len(batch.samples))
        # Published before the entry is acknowledged: a crash here republishes, and the
        # anomaly's id (derived from the sample) lets every reader deduplicate.
        await self.bus.publish_many((ANOMALIES, a) for a in anomalies)
        for anomaly in anomalies:
            ANOMALIES_DETECTED.labels(severity=anomaly.severity.value).inc()
            log.info(
                "anomaly_detected",
                anomaly_id=str(anomaly.event_id),
                resource_id=anomaly.resource_id,
                metric=anomaly.metric,
                severity=anomaly.severity.value,
                score=round(anomaly.score, 4),
            )
