"""The remediator's Prometheus metrics.

Records are written by the workers, which Prometheus does not scrape; the API counts them by
reading the remediations stream in a consumer group of its own, so each record is counted once
across API replicas (sum over instances in queries). The gauges of shared state (safety layer,
Celery queue) are read from Redis by every replica alike (max over instances in queries).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis

from services.remediator.core.actions.registry import ACTION_NAMES
from services.remediator.core.safety_policy import SAFETY_CHECKS
from services.remediator.executors.base import OWN_ERROR_CODES
from services.remediator.stores import redis_keys
from shared.bus import StreamEntry
from shared.events import RemediationRecord, RemediationStatus
from shared.metrics import PIPELINE_LATENCY

METRICS_GROUP = "remediator-metrics"
DECISION_SEEN_TTL_S = 86_400

ACTIONS = Counter(
    "remediation_actions_total", "Remediation decisions by action and status.", ["action", "status"]
)
SUCCESS = Counter("remediation_success_total", "Actions that ran and succeeded.")
FAILURE = Counter("remediation_failure_total", "Actions that failed, by error code.", ["reason"])
BLOCKED = Counter(
    "remediation_blocked_total", "Actions refused, by the safety check that refused.", ["rule"]
)
ACTION_DURATION = Histogram(
    "remediation_action_duration_seconds",
    "How long actions ran, from start to outcome (succeeded or failed), by action.",
    ["action"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
REDISPATCHED = Counter(
    "remediation_anomalies_redispatched_total",
    "Anomalies (and debounced rules' re-checks) sent to the workers again by the sweep: no "
    "decision was recorded within SCOPS_REDISPATCH_STALLED_S of their sending (or due time); "
    "a worker killed whole held their tasks.",
)
PENDING_APPROVALS = Gauge("remediation_pending_approvals", "Approvals waiting for a decision.")
BREAKER_OPEN = Gauge(
    "remediation_breaker_open", "1 while the circuit breaker refuses automatic actions."
)
COOLDOWNS_ACTIVE = Gauge("remediation_cooldowns_active", "Targets in their cooldown.")
LOCKS_ACTIVE = Gauge("remediation_locks_active", "Targets with an action running (locked).")
ACTIONS_HOUR_USED = Gauge(
    "remediation_actions_hour_used",
    "Actions executed in the rolling hour (what the rate limit counts).",
)
RATE_LIMIT_PER_HOUR = Gauge(
    "remediation_rate_limit_per_hour", "Most actions executed per rolling hour (the rate limit)."
)
QUEUE_LENGTH = Gauge(
    "remediation_queue_length", "Tasks waiting in the workers' Celery queue (not yet taken)."
)


def initialise_labels() -> None:
    """Known label values at 0, so that panels show 0 rather than no data."""
    for check in SAFETY_CHECKS:
        BLOCKED.labels(rule=check)
    for reason in (*OWN_ERROR_CODES, RemediationStatus.INTERRUPTED.value):
        FAILURE.labels(reason=reason)


def action_label(action: str | None) -> str:
    """A record's action as a label value: one of the registered actions, ``none``, or
    ``unknown`` for a name a request made up (refused, and kept as it was written in the
    record): a caller choosing names never adds series."""
    if not action:
        return "none"
    return action if action in ACTION_NAMES else "unknown"


def count(record: RemediationRecord) -> None:
    action = action_label(record.action)
    ACTIONS.labels(action=action, status=record.status.value).inc()
    if record.status == RemediationStatus.SUCCEEDED:
        SUCCESS.inc()
    elif record.status in (RemediationStatus.FAILED, RemediationStatus.INTERRUPTED):
        FAILURE.labels(reason=record.error_code or record.status.value).inc()
    elif record.status == RemediationStatus.BLOCKED:
        BLOCKED.labels(rule=record.blocked_by or "unknown").inc()
    if record.duration_s is not None and record.action:
        ACTION_DURATION.labels(action=action).observe(record.duration_s)


class RecordCounter:
    """Handler of the API's consumer group on the remediations stream: counts each record, and
    the time from an anomaly's sample to the remediator's first record about it (its decision:
    to act, wait, ask, refuse or do nothing), once per anomaly across replicas."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def __call__(self, entry: StreamEntry) -> None:
        await self.count_all([entry])

    async def count_all(self, entries: Sequence[StreamEntry]) -> list[str]:
        """A read's records counted, each once by its id (a record written again after a crash,
        or delivered again, has the same one), their first-decision marks set, in one round
        trip; the entries not counted (none: a Redis error raises and leaves them all
        pending)."""
        records = [entry.event for entry in entries if isinstance(entry.event, RemediationRecord)]
        if not records:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.set(
                    redis_keys.record_counted(record.event_id), 1, nx=True, ex=DECISION_SEEN_TTL_S
                )
                if record.anomaly_observed_at is not None:
                    pipe.set(
                        redis_keys.decision_seen(record.anomaly_id),
                        1,
                        nx=True,
                        ex=DECISION_SEEN_TTL_S,
                    )
            replies = iter(await pipe.execute())
        for record in records:
            first = next(replies)
            observed = record.anomaly_observed_at
            decided_first = observed is not None and next(replies)
            if not first:
                continue  # counted when it first came
            count(record)
            if observed is not None and decided_first:
                latency = (record.occurred_at - observed).total_seconds()
                PIPELINE_LATENCY.labels(stage="decision").observe(max(latency, 0.0))
        return []
