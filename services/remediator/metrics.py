"""The remediator's Prometheus metrics.

Records are written by the workers, which Prometheus does not scrape; the API counts them by
reading the remediations stream in a consumer group of its own, so each record is counted once
across API replicas (sum over instances in queries).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shared.bus import StreamEntry
from shared.events import RemediationRecord, RemediationStatus

METRICS_GROUP = "remediator-metrics"

ACTIONS = Counter(
    "remediation_actions_total", "Remediation decisions by action and status.", ["action", "status"]
)
SUCCESS = Counter("remediation_success_total", "Actions that ran and succeeded.")
FAILURE = Counter("remediation_failure_total", "Actions that failed, by error code.", ["reason"])
BLOCKED = Counter(
    "remediation_blocked_total", "Actions refused, by the safety check that refused.", ["rule"]
)
PENDING_APPROVALS = Gauge("remediation_pending_approvals", "Approvals waiting for a decision.")


def count(record: RemediationRecord) -> None:
    ACTIONS.labels(action=record.action or "none", status=record.status.value).inc()
    if record.status == RemediationStatus.SUCCEEDED:
        SUCCESS.inc()
    elif record.status in (RemediationStatus.FAILED, RemediationStatus.INTERRUPTED):
        FAILURE.labels(reason=record.error_code or record.status.value).inc()
    elif record.status == RemediationStatus.BLOCKED:
        BLOCKED.labels(rule=record.blocked_by or "unknown").inc()


async def count_record(entry: StreamEntry) -> None:
    if isinstance(entry.event, RemediationRecord):
        count(entry.event)
