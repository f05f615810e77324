"""Prometheus metrics every service shares (the bus, the pipeline's end-to-end latency).

Stream labels are stream families (``metrics``, ``anomalies``...), never shard numbers or ids,
so label cardinality stays fixed.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
