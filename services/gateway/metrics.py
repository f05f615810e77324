"""The gateway's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

SAMPLES_INGESTED = Counter(
    "scops_samples_ingested",
    "Metric samples accepted by POST /v1/metrics and written to the metrics stream.",
)
ALERTS_SKIPPED = Counter(
    "scops_alerts_skipped",
    "Alertmanager alerts not accepted (invalid labels, no resource, or a time too far from "
    "the gateway's clock); the other alerts of their notification were accepted.",
)
