"""The remediation workflow on a real Redis, and through a real Celery worker: one record per
anomaly however often it is delivered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.handling.scheduling import CeleryScheduler
from services.remediator.handling.workflow import AnomalyWorkflow
from services.remediator.stores.claims import CLAIM_STARTED, ClaimBusyError
from services.remediator.stores.redis_keys import claim as claim_key
from services.remediator.stores.redis_keys import lease as lease_key
from services.remediator.wiring import build
from shared.events import RemediationStatus, Severity
from shared.streams import REMEDIATIONS
from shared.tasks import HANDLE_ANOMALY
from tests.support.events import cpu_anomaly
from tests.support.processes import stack_env, worker
from tests.support.waiting import wait_for


def _workflow(client: redis.Redis) -> AnomalyWorkflow:
    """The workflow as a worker builds it from the default settings: dry-run, the shipped
    rules, no AWS."""
    settings = RemediatorSettings(claim_ttl_s=600)
    return build(settings, client, CeleryScheduler(create_celery(settings))).workflow


def _records(client: redis.Redis) -> list[dict[str, object]]:
    return [json.loads(f[b"data"]) for _, f in client.xrange(REMEDIATIONS)]


def test_a_redelivered_anomaly_is_recorded_once(sync_redis: redis.Redis) -> None:
    flow = _workflow(sync_redis)
    anomaly = cpu_anomaly("web-1")
    first = flow.handle(anomaly)
    second = flow.handle(anomaly)
    assert first is not None
    assert first.status == RemediationStatus.DRY_RUN
    assert first.action == "restart_service"
    assert second is None
    assert len(_records(sync_redis)) == 1


def test_an_attempt_that_died_midway_is_recorded_as_interrupted_not_rerun(
    sync_redis: redis.Redis,
) -> None:
    anomaly = cpu_anomaly("web-1")
    sync_redis.set(claim_key(anomaly.event_id, "restart_service"), CLAIM_STARTED)
    flow = _workflow(sync_redis)
    record = flow.handle(anomaly)
    assert record is not None
    assert record.status == RemediationStatus.INTERRUPTED
    assert flow.handle(anomaly) is None
    assert [r["status"] for r in _records(sync_redis)] == ["interrupted"]


def test_below_the_action_threshold_the_decision_is_recorded_as_no_action(
    sync_redis: redis.Redis,
) -> None:
    flow = _workflow(sync_redis)
    record = flow.handle(cpu_anomaly("web-1", severity=Severity.LOW))
    assert record is not None
    assert record.status == RemediationStatus.NO_ACTION
    assert "below high" in record.reason


def test_a_real_worker_records_a_task_sent_twice_once(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path
) -> None:
    env = stack_env(redis_url)
    proc = worker(env, log_dir, concurrency=2).start()
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    try:
        anomaly = cpu_anomaly("web-1")
        for _ in range(2):
            celery.send_task(HANDLE_ANOMALY, kwargs={"event": anomaly.model_dump(mode="json")})
        wait_for(
            proc,
            lambda: "duplicate_delivery_skipped" in proc.log_text(),
            20,
            "the second delivery to be skipped",
        )
        records = _records(sync_redis)
        assert len(records) == 1
        assert records[0]["anomaly_id"] == str(anomaly.event_id)
    finally:
        celery.close()
        assert proc.stop() == 0


def test_a_duplicate_while_the_first_attempt_works_waits_instead_of_recording(
    sync_redis: redis.Redis,
) -> None:
    anomaly = cpu_anomaly("web-1")
    key = claim_key(anomaly.event_id, "restart_service")
    sync_redis.set(key, CLAIM_STARTED)
    sync_redis.set(lease_key(key), "someone-else", ex=30)
    flow = _workflow(sync_redis)
    with pytest.raises(ClaimBusyError):
        flow.handle(anomaly)
    assert _records(sync_redis) == []
