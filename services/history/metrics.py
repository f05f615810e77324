"""The history service's Prometheus metrics (labels have fixed, small sets of values)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECORDED = Counter(
    "history_events_recorded_total",
    "Events and log entries written to the history (kind: anomaly, resolution, record, "
    "notification, feedback, silence).",
    ["kind"],
)
WRITE_SECONDS = Histogram(
    "history_write_seconds",
    "Time to write one event into the database (its transaction).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RETENTION_DELETED = Counter(
    "history_retention_deleted_total",
    "Rows deleted for being older than the retention (table: incidents, audit, silences).",
    ["table"],
)
