"""The notifier's Prometheus metrics (labels have fixed, small sets of values)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SENT = Counter(
    "notifications_sent_total",
    "Messages accepted by a receiver (channel: slack, webhook or outbox).",
    ["channel", "kind"],
)
FAILED = Counter(
    "notifications_failed_total",
    "Delivery tries that failed (reason: server_error, rate_limited, client_error, "
    "url_rejected, transport_error, url_unavailable), messages dead-lettered, internal_error.",
    ["reason"],
)
SUPPRESSED = Counter(
    "notifications_suppressed_total",
    "Events that became no message (reason: silenced, dropped_by_route, stale, "
    "folded, not_notified, unknown_alert).",
    ["reason"],
)
DEAD_LETTER_SIZE = Gauge(
    "notifications_dead_letter_size", "Messages in the dead-letter stream, waiting for replay."
)
QUEUED = Gauge("notifications_queued", "Messages waiting for a receiver.", ["receiver"])
GROUPS = Gauge("notifications_groups", "Alert groups held (waiting, or repeating).")
