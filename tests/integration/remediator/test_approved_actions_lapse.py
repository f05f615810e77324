"""An approved action that has not started within ``SCOPS_APPROVED_START_WITHIN_S`` of its
approval is never run: the sweep (the task was lost) or the worker (the task waited out a long
outage) records it ``expired`` once, with why, and its entry leaves the approved index. An
entry whose approval is no longer kept is dropped by the sweep, which goes on with the rest."""

from __future__ import annotations

import time

import redis

from services.remediator.background import sweep_once
from services.remediator.stores import redis_keys
from shared.events import RemediationStatus, Severity
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: idle
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""


def approved(h: Harness, anomaly: AnomalyFactory, resource: str) -> str:
    asked = h.workflow.handle(anomaly(resource_id=resource, metric="idle_1", severity=Severity.LOW))
    assert asked is not None and asked.approval_id
    h.remediator.decisions.approve(asked.approval_id, "ana")
    return asked.approval_id


def approved_ago(client: redis.Redis, approval_id: str, seconds: float) -> None:
    """The approval was given ``seconds`` ago, and last sent to a worker then."""
    then_ms = int((time.time() - seconds) * 1000)
    client.hset(redis_keys.approval(approval_id), "decided_at_ms", then_ms)
    client.zadd(redis_keys.APPROVED_UNCLAIMED, {approval_id: then_ms})


def test_an_approved_action_lost_for_longer_than_the_bound_is_recorded_expired_not_sent(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, approved_start_within_s=3600)
    approval_id = approved(h, anomaly, "a")
    lost = h.work.executions.pop()  # the broker lost it, or no worker ran for hours
    approved_ago(sync_redis, approval_id, 12 * 3600)

    done = sweep_once(h.remediator)

    assert done["redispatched"] == 0 and h.work.executions == []
    last = h.records()[-1]
    assert last.status == RemediationStatus.EXPIRED and last.approval_id == approval_id
    assert "not started within 1h of its approval" in last.reason
    assert "nothing done" in last.reason
    assert sync_redis.zscore(redis_keys.APPROVED_UNCLAIMED, approval_id) is None
    count = len(h.records())
    assert sweep_once(h.remediator)["redispatched"] == 0
    # The lost task delivered at last: nothing runs, nothing more is recorded.
    assert h.workflow.execute_request(lost) is None
    assert len(h.records()) == count


def test_an_approved_task_delivered_after_the_bound_is_recorded_expired_not_run(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, approved_start_within_s=1)
    approval_id = approved(h, anomaly, "a")
    time.sleep(1.2)  # the workers were down longer than the bound

    record = h.workflow.execute_request(h.work.executions.pop())

    assert record is not None and record.status == RemediationStatus.EXPIRED
    assert record.approval_id == approval_id
    assert "not started within 1s of its approval" in record.reason
    assert [r.status for r in h.records()].count(RemediationStatus.RUNNING) == 0
    assert sync_redis.zscore(redis_keys.APPROVED_UNCLAIMED, approval_id) is None
    count = len(h.records())
    sweep_once(h.remediator)
    assert len(h.records()) == count and h.work.executions == []


def test_an_approved_action_within_the_bound_is_still_sent_again(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, approved_start_within_s=3600)
    approval_id = approved(h, anomaly, "a")
    h.work.executions.clear()
    approved_ago(sync_redis, approval_id, 120)
    assert sweep_once(h.remediator)["redispatched"] == 1
    assert [r.approval_id for r in h.work.executions] == [approval_id]


def test_the_sweep_drops_the_entry_of_an_approval_no_longer_kept_and_goes_on(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES)
    gone = approved(h, anomaly, "a")
    kept = approved(h, anomaly, "b")
    h.work.executions.clear()
    approved_ago(sync_redis, gone, 120)
    approved_ago(sync_redis, kept, 120)
    sync_redis.delete(redis_keys.approval(gone))  # its TTL and the week after have passed
    sync_redis.zadd(redis_keys.ACTIVE_RUNS, {"lost-run": int(time.time() * 1000) - 120_000})

    done = sweep_once(h.remediator)

    assert done["redispatched"] == 1 and done["repolled"] == 1
    assert [r.approval_id for r in h.work.executions] == [kept]
    assert sync_redis.zscore(redis_keys.APPROVED_UNCLAIMED, gone) is None
    assert all(r.approval_id != gone or r.status != RemediationStatus.EXPIRED for r in h.records())
