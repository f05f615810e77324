"""The detector's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter("ml_predictions_total", "Metric samples scored.")
ANOMALIES_DETECTED = Counter(
    "ml_anomalies_detected", "Anomaly events raised, by severity.", ["severity"]
)
SCORING_SECONDS = Histogram(
    "ml_scoring_seconds",
    "Time to score one metric batch entry.",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
SERIES_TRACKED = Gauge("ml_series_tracked", "Series (resource x metric) with state in memory.")
