"""One anomaly's way through the remediator: decide, claim, execute, record.

Effectively once: before anything runs, the task claims ``anomaly x action`` in Redis with
SET NX and takes a short lease that it holds while it works. A redelivered or duplicated task
finds the claim: ``done`` means the work is recorded (skip); ``started`` with a live lease means
another attempt is at work (:class:`ClaimBusyError`: try again later); ``started`` with the lease
gone means that attempt died mid-way, which is recorded as ``interrupted`` and never run again.
"""

from __future__ import annotations

import uuid

import redis
import structlog

from services.remediator.decide import decide
from services.remediator.executor import DryRunExecutor
from shared.bus import encode_event
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus
from shared.streams import PREFIX, REMEDIATIONS

log = structlog.get_logger("remediator.workflow")

CLAIM_STARTED = b"started"
CLAIM_DONE = b"done"
LEASE_TTL_S = 30


class ClaimBusyError(Exception):
    """Another attempt holds the lease on this anomaly x action; try again after it."""


def claim_key(anomaly_id: uuid.UUID, action: str | None) -> str:
    return f"{PREFIX}:{{remediation}}:claim:{anomaly_id}:{action or '-'}"


def lease_key(claim: str) -> str:
    return f"{claim}:lease"


def record_id(anomaly_id: uuid.UUID, action: str | None, status: RemediationStatus) -> uuid.UUID:
    return uuid.uuid5(anomaly_id, f"{action}:{status}")


class AnomalyWorkflow:
    def __init__(self, client: redis.Redis, *, maxlen: int, claim_ttl_s: int) -> None:
        self.redis = client
        self.maxlen = maxlen
        self.claim_ttl_s = claim_ttl_s
        self.executor = DryRunExecutor()

    def handle(self, anomaly: AnomalyEvent) -> RemediationRecord | None:
        decision = decide(anomaly)
        key = claim_key(anomaly.event_id, decision.action)
        if not self.redis.set(key, CLAIM_STARTED, nx=True, ex=self.claim_ttl_s):
            return self._already_claimed(anomaly, key, decision.action)
        self.redis.set(lease_key(key), uuid.uuid4().hex, ex=LEASE_TTL_S)
        if decision.action is None:
            record = self._record(anomaly, None, RemediationStatus.NO_ACTION, decision.reason)
        else:
            result = self.executor.run(decision.action, anomaly.resource_id)
            record = self._record(
                anomaly,
                decision.action,
                result.status,
                decision.reason,
                output_excerpt=result.output[-2000:],
                exit_code=result.exit_code,
                duration_s=result.duration_s,
            )
        self._publish(record)
        self.redis.set(key, CLAIM_DONE, ex=self.claim_ttl_s)
        self.redis.delete(lease_key(key))
        return record

    def _already_claimed(
        self, anomaly: AnomalyEvent, key: str, action: str | None
    ) -> RemediationRecord | None:
        if self.redis.get(key) == CLAIM_STARTED and self.redis.exists(lease_key(key)):
            raise ClaimBusyError(key)
        # Only one redelivery may turn "started" into "interrupted".
        if self.redis.set(key, CLAIM_DONE, xx=True, get=True, ex=self.claim_ttl_s) != CLAIM_STARTED:
            log.info("duplicate_delivery_skipped", anomaly_id=str(anomaly.event_id))
            return None
        record = self._record(
            anomaly,
            action,
            RemediationStatus.INTERRUPTED,
            "an earlier attempt stopped before recording its outcome; not run again",
        )
        self._publish(record)
        return record

    def _record(
        self,
        anomaly: AnomalyEvent,
        action: str | None,
        status: RemediationStatus,
        reason: str,
        **extra: object,
    ) -> RemediationRecord:
        return RemediationRecord.model_validate(
            {
                "event_id": record_id(anomaly.event_id, action, status),
                "correlation_id": anomaly.correlation_id,
                "anomaly_id": anomaly.event_id,
                "resource_id": anomaly.resource_id,
                "metric": anomaly.metric,
                "severity": anomaly.severity,
                "action": action,
                "status": status,
                "reason": reason,
                "executor": self.executor.name,
                "anomaly_value": anomaly.value,
                "expected_low": anomaly.expected_low,
                "expected_high": anomaly.expected_high,
                "anomaly_explanation": anomaly.explanation,
                **extra,
            }
        )

    def _publish(self, record: RemediationRecord) -> None:
        self.redis.xadd(
            REMEDIATIONS,
            encode_event(record),
            maxlen=self.maxlen,
            approximate=True,
        )
        log.info(
            "remediation_recorded",
            anomaly_id=str(record.anomaly_id),
            action=record.action,
            status=record.status.value,
        )
