"""The collector's Prometheus metrics (labels have fixed, small sets of values)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DATAPOINTS = Counter(
    "collector_datapoints_published_total",
    "CloudWatch datapoints written to the metrics stream (each once).",
)
POLLS = Counter(
    "collector_polls_total",
    "Polls of one account and region (outcome: ok, failed).",
    ["outcome"],
)
SERIES = Gauge("collector_series", "CloudWatch series being collected.")
