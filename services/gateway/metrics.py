"""The gateway's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

SAMPLES_INGESTED = Counter(
    "scops_samples_ingested",
    "Metric samples accepted by POST /v1/metrics and written to the metrics stream.",
)
