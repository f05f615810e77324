"""The remediator API's metrics on a real Redis: the gauges follow the safety layer's state
and the Celery queue, and records are counted once (the decision latency once per anomaly)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis as AsyncRedis

from services.remediator import metrics
from services.remediator.core.action_requests import Incident
from services.remediator.core.records import incident_record
from services.remediator.gauges import refresh_gauges
from services.remediator.stores.safety import SafetyRequest
from shared.bus import StreamEntry
from shared.events import RemediationStatus, Severity, utcnow
from shared.tasks import REMEDIATION_QUEUE
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: app}}]
"""
GAUGES = {
    "breaker": "remediation_breaker_open",
    "cooldowns": "remediation_cooldowns_active",
    "locks": "remediation_locks_active",
    "used": "remediation_actions_hour_used",
    "limit": "remediation_rate_limit_per_hour",
    "queue": "remediation_queue_length",
}


def _gauges() -> dict[str, float | None]:
    return {short: REGISTRY.get_sample_value(name) for short, name in GAUGES.items()}


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _request(target: str) -> SafetyRequest:
    return SafetyRequest(
        action="restart_service", target_key=target, resource_id=target, run_id=f"run-{target}"
    )


def test_the_gauges_follow_the_safety_layer_and_the_queue(
    harness: HarnessFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, rate_limit_per_hour=7, breaker_failures=2)
    safety = h.remediator.safety
    refresh_gauges(h.remediator)
    quiet = {"breaker": 0, "cooldowns": 0, "locks": 0, "used": 0, "limit": 7, "queue": 0}
    assert _gauges() == quiet

    running = safety.reserve(_request("i-1"))  # a lock, a cooldown and a slot of the hour
    assert running.allowed and running.reservation
    sync_redis.rpush(REMEDIATION_QUEUE, "task-1", "task-2")
    refresh_gauges(h.remediator)
    assert _gauges() == {**quiet, "cooldowns": 1, "locks": 1, "used": 1, "queue": 2}

    for target in ("i-2", "i-3"):  # two failures in the window open the breaker
        failed = safety.reserve(_request(target))
        assert failed.reservation
        safety.release(_request(target), failed.reservation, "failed", "exit code 1")
    refresh_gauges(h.remediator)
    assert _gauges()["breaker"] == 1
    assert _gauges()["locks"] == 1  # the failed ones released theirs

    assert safety.reset_breaker()
    refresh_gauges(h.remediator)
    assert _gauges()["breaker"] == 0


def test_known_refusals_and_failure_reasons_start_at_zero() -> None:
    metrics.initialise_labels()
    exported = REGISTRY.get_sample_value
    for rule in ("circuit_breaker", "rate_limit", "cooldown", "lock", "deny_list"):
        assert exported("remediation_blocked_total", {"rule": rule}) is not None
    for reason in ("Timeout", "NoTargets", "interrupted"):
        assert exported("remediation_failure_total", {"reason": reason}) is not None


async def test_each_anomaly_gets_one_decision_latency_and_each_run_its_duration(
    anomaly: AnomalyFactory, async_redis: AsyncRedis
) -> None:
    counter = metrics.RecordCounter(async_redis)
    decisions = ("scops_pipeline_latency_seconds", {"stage": "decision"})
    count_before = _sample(f"{decisions[0]}_count", **decisions[1])
    sum_before = _sample(f"{decisions[0]}_sum", **decisions[1])
    runs_before = _sample("remediation_action_duration_seconds_count", action="restart_service")

    incident = Incident.from_anomaly(anomaly(observed_at=utcnow() - timedelta(seconds=30)))
    running = incident_record(
        incident, RemediationStatus.RUNNING, "sent", action="restart_service", executor="ssm"
    )
    done = incident_record(
        incident,
        RemediationStatus.SUCCEEDED,
        "done",
        action="restart_service",
        executor="ssm",
        duration_s=12.5,
    )
    manual = Incident(
        anomaly_id=uuid.uuid4(),
        correlation_id="c",
        resource_id="web-2",
        metric="manual",
        severity=Severity.MEDIUM,
    )
    by_hand = incident_record(manual, RemediationStatus.BLOCKED, "no", executor="ssm")
    assert running.anomaly_observed_at == incident.observed_at
    assert by_hand.anomaly_observed_at is None
    for n, record in enumerate([running, done, running, by_hand]):  # one redelivered
        await counter(StreamEntry("scops:{remediations}", f"{n}-0", record))

    assert _sample(f"{decisions[0]}_count", **decisions[1]) - count_before == 1
    latency = _sample(f"{decisions[0]}_sum", **decisions[1]) - sum_before
    assert 30 <= latency < 40
    runs = _sample("remediation_action_duration_seconds_count", action="restart_service")
    assert runs - runs_before == 1
