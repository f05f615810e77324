"""Prometheus metrics every service shares (the bus, the pipeline's end-to-end latency).

Stream labels are stream families (``metrics``, ``anomalies``...), never shard numbers or ids,
so label cardinality stays fixed.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "scops_events_published_total", "Events written to a stream.", ["stream"]
)
EVENTS_CONSUMED = Counter(
    "scops_events_consumed_total", "Events handled and acknowledged.", ["stream", "group"]
)
EVENTS_RECLAIMED = Counter(
    "scops_events_reclaimed_total",
    "Pending entries taken over from an idle consumer.",
    ["stream", "group"],
)
EVENTS_DEAD_LETTERED = Counter(
    "scops_events_dead_lettered_total",
    "Entries moved to a dead-letter stream (unreadable or failed too often).",
    ["stream", "group"],
)
HANDLER_FAILURES = Counter(
    "scops_handler_failures_total",
    "Handler errors (the entry stays pending and is retried).",
    ["stream", "group"],
)
EVENT_AGE = Histogram(
    "scops_event_age_seconds",
    "Time from an event's creation to the end of its handling.",
    ["stream", "group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STREAM_LAG = Gauge(
    "scops_stream_lag",
    "Entries in the stream not yet delivered to the consumer group (all shards).",
    ["stream", "group"],
)
STREAM_PENDING = Gauge(
    "scops_stream_pending",
    "Entries delivered to the group and not yet acknowledged (all shards).",
    ["stream", "group"],
)
STREAM_LENGTH = Gauge("scops_stream_length", "Entries kept in the stream (all shards).", ["stream"])
DEAD_LETTER_LENGTH = Gauge(
    "scops_dead_letter_length", "Entries in the stream's dead-letter stream.", ["stream"]
)
STREAM_MAXLEN = Gauge(
    "scops_stream_maxlen",
    "Approximate cap (MAXLEN ~) of each event stream (SCOPS_STREAM_MAXLEN): Redis trims "
    "entries beyond it, read or not.",
)
PIPELINE_LATENCY = Histogram(
    "scops_pipeline_latency_seconds",
    "Time from a sample's timestamp to each stage: anomaly published, remediation decided, "
    "team notified.",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
