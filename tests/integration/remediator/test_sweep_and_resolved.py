"""The API's background work on a real Redis: the sweep (expired approvals, approved actions
never started, runs whose poll was lost, anomalies sent and never decided), resolved anomalies
ending debounce streaks, and the auto-approval parameter read from Parameter Store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

import redis
from celery import Celery
from redis.asyncio import Redis as AsyncRedis

from services.remediator.aws.session import AwsApi
from services.remediator.background import sweep_once
from services.remediator.celery_config import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.dispatcher import AnomalyDispatcher
from services.remediator.stores import redis_keys
from shared.bus import StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved, RemediationStatus, Severity, utcnow
from shared.tasks import REMEDIATION_QUEUE
from tests.integration.remediator.conftest import AMI, HarnessFactory
from tests.support.aws_fleet import group_tags
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: idle
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
  - name: cpu-lasting
    match: {metric: cpu_*}
    for: 5m
    actions: [{action: restart_service, params: {service: app}}]
"""


def test_the_sweep_expires_redispatches_and_repolls(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES)
    first = h.workflow.handle(anomaly(resource_id="a", metric="idle_1", severity=Severity.LOW))
    second = h.workflow.handle(anomaly(resource_id="b", metric="idle_2", severity=Severity.LOW))
    assert first is not None and second is not None
    assert first.approval_id and second.approval_id
    sync_redis.zadd(redis_keys.PENDING_APPROVALS, {first.approval_id: 1})
    sync_redis.hset(redis_keys.approval(first.approval_id), "expires_at_ms", 1)
    h.remediator.decisions.approve(second.approval_id, "ana")
    h.work.executions.clear()  # the API died before the task reached the queue
    sync_redis.zadd(redis_keys.APPROVED_UNCLAIMED, {second.approval_id: 1})
    sync_redis.zadd(redis_keys.ACTIVE_RUNS, {"lost-run": int(time.time() * 1000) - 120_000})
    done = sweep_once(h.remediator)
    assert done == {
        "expired": 1,
        "redispatched": 1,
        "late_records": 0,
        "repolled": 1,
        "settled": 0,
        "resent": 0,
        "reverified": 0,
    }
    assert [r.approval_id for r in h.work.executions] == [second.approval_id]
    assert h.work.polls == [("lost-run", 0)]
    assert [r.status for r in h.records()][-1] == RemediationStatus.EXPIRED
    h.workflow.execute_request(h.work.executions[0])
    assert sweep_once(h.remediator)["redispatched"] == 0  # claimed now


def dispatch(redis_url: str, events: Sequence[AnomalyEvent | AnomalyResolved]) -> None:
    """The API's dispatcher handles one read of ``events`` (its tasks wait in the queue: no
    worker runs)."""

    async def run() -> None:
        client = AsyncRedis.from_url(redis_url)
        celery = create_celery(RemediatorSettings(redis_url=redis_url))
        entries = [StreamEntry("s", f"{n}-0", event) for n, event in enumerate(events, 1)]
        assert await AnomalyDispatcher(celery, client).dispatch(entries) == []
        celery.close()
        await client.aclose()

    asyncio.run(run())


def test_the_sweep_sends_again_an_anomaly_sent_and_never_decided(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, redispatch_stalled_s=60)
    decided, lost = (
        anomaly(resource_id="a", metric="mem_1"),
        anomaly(resource_id="b", metric="mem_1"),
    )
    dispatch(redis_url, [decided, lost])
    record = h.workflow.handle(decided)
    assert record is not None and record.status == RemediationStatus.NO_ACTION
    assert sync_redis.zscore(redis_keys.DISPATCHED, str(decided.event_id)) is None
    assert sweep_once(h.remediator)["resent"] == 0  # sent just now: not stalled yet

    as_if_sent_61_s_ago = int(time.time() * 1000) - 61_000
    sync_redis.zadd(redis_keys.DISPATCHED, {str(lost.event_id): as_if_sent_61_s_ago})
    assert sync_redis.rpop(REMEDIATION_QUEUE)  # a worker took decided's task
    assert sweep_once(h.remediator)["resent"] == 0  # lost's task still waits in the queue
    assert sync_redis.rpop(REMEDIATION_QUEUE)  # a worker took it, and died
    assert sweep_once(h.remediator)["resent"] == 1
    assert [(a.event_id, dry_run) for a, dry_run in h.work.anomalies] == [(lost.event_id, False)]
    assert sweep_once(h.remediator)["resent"] == 0  # sent once per stall time, by one replica

    resent, _dry_run = h.work.anomalies[0]
    assert resent == lost  # the same event
    record = h.workflow.handle(resent)
    assert record is not None and record.anomaly_id == lost.event_id
    dispatch(redis_url, [decided])  # the stream delivers it again: found decided, forgotten
    assert h.workflow.handle(decided) is None
    assert sync_redis.zcard(redis_keys.DISPATCHED) == 0
    assert sync_redis.hlen(redis_keys.DISPATCHED_EVENTS) == 0

    ancient = anomaly(resource_id="c", metric="mem_1")
    dispatch(redis_url, [ancient])
    sync_redis.zadd(redis_keys.DISPATCHED, {str(ancient.event_id): as_if_sent_61_s_ago})
    impatient = replace(
        h.remediator,
        settings=h.remediator.settings.model_copy(update={"redispatch_give_up_s": 0.001}),
    )
    assert sweep_once(impatient)["resent"] == 0  # first sent longer ago than that: dropped
    assert sync_redis.zcard(redis_keys.DISPATCHED) == 0
    assert sync_redis.hlen(redis_keys.DISPATCHED_EVENTS) == 0


def test_the_sweep_sends_again_a_recheck_due_and_never_decided(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(RULES, redispatch_stalled_s=60)
    event = anomaly(resource_id="web-7")
    proposed = h.workflow.handle(event)  # cpu-lasting waits 5 minutes: a re-check is sent
    assert proposed is not None and proposed.status == RemediationStatus.PROPOSED
    ((_, rule, delay_s),) = h.work.rechecks
    entry = f"{event.event_id}:{rule}"
    due_ms = sync_redis.zscore(redis_keys.DISPATCHED, entry)
    assert due_ms is not None and abs(due_ms - (time.time() + delay_s) * 1000) < 5_000
    assert sweep_once(h.remediator)["resent"] == 0  # not due yet

    # The worker holding the re-check until its countdown died whole: a minute past due.
    sync_redis.zadd(redis_keys.DISPATCHED, {entry: int(time.time() * 1000) - 61_000})
    assert sweep_once(h.remediator)["resent"] == 1
    assert [(e.event_id, r, d) for e, r, d in h.work.rechecks[1:]] == [(event.event_id, rule, 0)]
    record = h.workflow.recheck(h.work.rechecks[1][0], rule)
    assert record is not None and record.anomaly_id == event.event_id
    assert sync_redis.zcard(redis_keys.DISPATCHED) == 0  # decided: forgotten
    assert h.workflow.recheck(event, rule) is None  # the original, late: skipped
    assert sweep_once(h.remediator)["resent"] == 0


def test_a_resolved_anomaly_ends_the_streak(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str
) -> None:
    h = harness(RULES, dry_run=True)
    event = anomaly(resource_id="web-5")
    h.workflow.handle(event)
    assert h.client.exists(redis_keys.debounce("web-5", "cpu_utilization"))
    resolved = AnomalyResolved(
        anomaly_id=event.event_id,
        resource_id="web-5",
        metric="cpu_utilization",
        started_at=event.observed_at,
        resolved_at=utcnow(),
        duration_s=60,
        peak_severity=Severity.CRITICAL,
        last_value=30,
    )

    async def dispatch() -> None:
        client = AsyncRedis.from_url(redis_url)
        celery = Celery("unused", broker=redis_url, set_as_current=False)
        await AnomalyDispatcher(celery, client)(StreamEntry("s", "1-0", resolved))
        celery.close()
        await client.aclose()

    asyncio.run(dispatch())
    assert not h.client.exists(redis_keys.debounce("web-5", "cpu_utilization"))
    (rechecked, rule, _delay) = h.work.rechecks[0]
    cleared = h.workflow.recheck(rechecked, rule)
    assert cleared is not None and cleared.status == RemediationStatus.NO_ACTION


def test_auto_approval_from_parameter_store_lets_high_risk_run(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    async def setup() -> None:
        async with aws.client("ssm") as ssm:
            await ssm.put_parameter(
                Name="/smartcloudops/test/approvals/auto", Value="true", Type="SecureString"
            )
        async with aws.client("autoscaling") as asg:
            await asg.create_launch_configuration(
                LaunchConfigurationName="lc", ImageId=AMI, InstanceType="t3.micro"
            )
            await asg.create_auto_scaling_group(
                AutoScalingGroupName="pool",
                LaunchConfigurationName="lc",
                MinSize=1,
                MaxSize=4,
                DesiredCapacity=3,
                AvailabilityZones=["us-east-1a"],
                Tags=group_tags("pool"),
            )

    asyncio.run(setup())
    h = harness(RULES, aws_url=aws_url)
    record = h.workflow.handle(anomaly(metric="idle_ratio", severity=Severity.LOW))
    assert record is not None and record.status == RemediationStatus.SUCCEEDED
    assert record.decided_by == "auto-approval (/smartcloudops/test/approvals/auto)"
    assert "pool desired capacity 3 -> 2" in record.reason
