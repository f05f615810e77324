"""Timing bounds that keep one decision one action: an approved action waiting in a busy queue
is sent again at most once per stall bound; a command staggered over several instances gets a
deadline and a lock covering every wave; a claim's lease stays alive through slow AWS look-ups
made before the reservation, so a duplicate delivery never takes over a live attempt."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from services.remediator.aws.session import AwsApi
from services.remediator.background import STALLED_S, sweep_once
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.targets import Target
from services.remediator.stores import redis_keys
from services.remediator.stores.safety import SafetyRequest, SafetyVerdict
from shared.events import RemediationRecord, RemediationStatus, Severity
from shared.tasks import HANDLE_ANOMALY
from tests.integration.remediator.conftest import HarnessFactory, aws_worker_env
from tests.support.aws_faults import aws_faults
from tests.support.aws_fleet import groups, instances, sent_commands
from tests.support.events import cpu_anomaly
from tests.support.processes import worker
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import AnomalyFactory
from tests.support.waiting import wait_for

APPROVALS = """\
version: 1
rules:
  - name: idle
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""
RESTART = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: app}}]
"""


def test_an_approved_action_in_a_busy_queue_is_sent_again_at_most_once_per_bound(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(APPROVALS)
    asked = h.workflow.handle(anomaly(resource_id="a", metric="idle_1", severity=Severity.LOW))
    assert asked is not None and asked.approval_id
    h.remediator.decisions.approve(asked.approval_id, "ana")
    assert len(h.work.executions) == 1  # queued; no worker takes it (the queue is busy)
    long_ago = int((time.time() - 2 * STALLED_S) * 1000)
    sync_redis.zadd(redis_keys.APPROVED_UNCLAIMED, {asked.approval_id: long_ago})
    sent = [sweep_once(h.remediator)["redispatched"] for _ in range(5)]
    assert sent == [1, 0, 0, 0, 0]  # one sweep every few seconds, one re-dispatch
    assert len(h.work.executions) == 2
    # Once the bound has passed again with the task still not started, once more.
    sync_redis.zadd(redis_keys.APPROVED_UNCLAIMED, {asked.approval_id: long_ago})
    assert sweep_once(h.remediator)["redispatched"] == 1
    h.workflow.execute_request(h.work.executions[-1])
    assert sweep_once(h.remediator)["redispatched"] == 0  # started: never again


@pytest.mark.parametrize(
    ("max_concurrency", "waves"), [("1", 4), ("50%", 2), ("2", 2), ("100%", 1)]
)
def test_a_command_staggered_over_instances_gets_a_deadline_and_lock_for_every_wave(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    aws: AwsApi,
    aws_url: str,
    max_concurrency: str,
    waves: int,
) -> None:
    ids = instances(aws, 4, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    request = ActionRequest(
        subject_id=uuid.uuid4(),
        incident=Incident.from_anomaly(anomaly(resource_id=ids[0])),
        action="restart_service",
        params={"service": "app", "timeout_s": 600, "max_concurrency": max_concurrency},
        target=Target.for_instances(*ids),
        reason="test",
        cooldown_s=0,
    )
    claim = h.remediator.workflow.parts.claims.acquire(request.subject_id, request.action)
    running = h.remediator.runner.execute(request, claim)
    assert running is not None and running.status == RemediationStatus.RUNNING
    run = h.client.hgetall(redis_keys.run(request.run_id))
    allowed_s = float(run[b"deadline"]) - float(run[b"started_at"])
    assert allowed_s == pytest.approx(600 + waves * 600 + 60, abs=1)  # delivery, waves
    for instance in ids:  # nobody else acts on them until the last wave is over
        assert h.client.pttl(redis_keys.lock(instance)) > (1 + waves) * 600 * 1000


def test_a_slow_aws_look_up_before_the_reservation_keeps_the_lease_alive(
    redis_url: str,
    sync_redis: redis.Redis,
    log_dir: Path,
    tmp_path: Path,
    aws: AwsApi,
    aws_url: str,
) -> None:
    """The group size look-up takes 4 s, the lease is 1 s: the duplicate delivery must wait
    for the live attempt, not record it interrupted and let it act anyway."""
    (member, *_rest) = groups(aws, {"web": 4})["web"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        """\
version: 1
policy: {verify: off}
rules:
  - name: restart
    match: {metric: cpu_*}
    blast_radius: {max_percent: 50, group: "{label:asg}"}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""
    )
    with aws_faults(aws_url) as faults:
        faults.slow = {"DescribeAutoScalingGroups": 4.0, "DescribeAutoScalingInstances": 4.0}
        env = aws_worker_env(redis_url, faults.url, rules) | {"SCOPS_CLAIM_LEASE_S": "1"}
        proc = worker(env, log_dir, concurrency=2).start()
        celery = create_celery(RemediatorSettings(redis_url=redis_url))
        event = cpu_anomaly(member, datetime.now(UTC) - timedelta(seconds=5), {"asg": "web"})
        try:
            for _ in range(2):  # the same task delivered twice
                celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})

            def finished() -> bool:
                return any(
                    r.status == RemediationStatus.SUCCEEDED for r in remediation_records(sync_redis)
                )

            wait_for(proc, finished, 60, "the action to finish")
            time.sleep(3.0)  # room for the duplicate to record something wrong
        finally:
            celery.close()
            assert proc.stop() == 0, proc.log_tail()
    statuses = [r.status for r in remediation_records(sync_redis) if not r.shadow]
    assert statuses == [RemediationStatus.RUNNING, RemediationStatus.SUCCEEDED]
    assert len(sent_commands(aws)) == 1


def test_a_tag_target_reaching_more_instances_than_known_extends_its_deadline_and_lock(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    instances(aws, 3, tags={"Name": "batch"})
    h = harness(RESTART, aws_url=aws_url)
    request = ActionRequest(
        subject_id=uuid.uuid4(),
        incident=Incident.from_anomaly(anomaly(resource_id="batch")),
        action="restart_service",
        params={"service": "app", "timeout_s": 600, "max_concurrency": "1"},
        target=Target(kind="tags", tags={"Name": "batch"}),
        reason="test",
        cooldown_s=0,
    )
    claim = h.remediator.workflow.parts.claims.acquire(request.subject_id, request.action)
    running = h.remediator.runner.execute(request, claim)
    assert running is not None and running.status == RemediationStatus.RUNNING
    run = h.client.hgetall(redis_keys.run(request.run_id))
    assert len(json.loads(run[b"instance_ids"])) == 3  # what SSM reported
    allowed_s = float(run[b"deadline"]) - float(run[b"started_at"])
    assert allowed_s == pytest.approx(600 + 3 * 600 + 60, abs=1)
    assert h.client.pttl(redis_keys.lock(request.target.key)) > 4 * 600 * 1000


@pytest.mark.parametrize(("count", "max_concurrency"), [(1, "1"), (3, "1"), (4, "50%")])
def test_a_command_keeps_its_deadline_and_lock_as_long_as_ssm_may_still_run_it(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    aws: AwsApi,
    aws_url: str,
    count: int,
    max_concurrency: str,
) -> None:
    """SSM may start a command on an instance until its delivery timeout (``TimeoutSeconds``)
    has passed, and it then runs for up to its ``executionTimeout``: a run given up before
    then (recorded failed, its lock freed) would let the next action on the instance run
    while the script still does."""
    ids = instances(aws, count, tags={"Name": "slow"})
    h = harness(RESTART, aws_url=aws_url)
    request = ActionRequest(
        subject_id=uuid.uuid4(),
        incident=Incident.from_anomaly(anomaly(resource_id=ids[0])),
        action="restart_service",
        params={"service": "app", "timeout_s": 300, "max_concurrency": max_concurrency},
        target=Target.for_instances(*ids),
        reason="test",
        cooldown_s=0,
    )
    claim = h.remediator.workflow.parts.claims.acquire(request.subject_id, request.action)
    running = h.remediator.runner.execute(request, claim)
    assert running is not None and running.status == RemediationStatus.RUNNING
    (command,) = sent_commands(aws)
    waves = {1: 1, 3: 3, 4: 2}[count]
    script_s = int(command["Parameters"]["executionTimeout"][0])
    # SSM starts nothing after TimeoutSeconds; what it started runs for up to its timeout.
    may_run_s = int(command["TimeoutSeconds"]) + script_s
    # ... and TimeoutSeconds leaves every wave, each waiting for the one before, time to
    # start (else SSM cancels the last ones: the action done on some instances only).
    assert int(command["TimeoutSeconds"]) >= 30 + (waves - 1) * script_s
    run = h.client.hgetall(redis_keys.run(request.run_id))
    allowed_s = float(run[b"deadline"]) - float(run[b"started_at"])
    assert allowed_s >= may_run_s
    for instance in ids:
        assert h.client.pttl(redis_keys.lock(instance)) >= may_run_s * 1000


def restart_request(anomaly: AnomalyFactory, instance: str) -> ActionRequest:
    """A request to restart a service on ``instance``, without a cooldown."""
    return ActionRequest(
        subject_id=uuid.uuid4(),
        incident=Incident.from_anomaly(anomaly(resource_id=instance)),
        action="restart_service",
        params={"service": "app"},
        target=Target.for_instances(instance),
        reason="test",
        cooldown_s=0,
    )


def test_an_attempt_whose_run_was_settled_while_it_stood_still_sends_nothing(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """An attempt stands still right after its reservation (its process frozen: no lease
    renewal) for longer than its lease; the sweep takes the claim over, finds no command and
    records the run interrupted, "not run again", and frees the lock. When the attempt moves
    again it must not send the command: the action would run unrecorded, beside whatever took
    the freed lock."""
    (instance,) = instances(aws, 1, tags={"Name": "frozen"})
    h = harness(RESTART, aws_url=aws_url)
    runner = h.remediator.runner
    claims = h.remediator.workflow.parts.claims
    request = restart_request(anomaly, instance)
    reserve = runner.safety.reserve
    settled: list[RemediationRecord | None] = []

    def frozen_after(checks: SafetyRequest, now_ms: int | None = None) -> SafetyVerdict:
        verdict = reserve(checks, now_ms)
        claim_key = redis_keys.claim(request.subject_id, request.action)
        h.client.delete(redis_keys.lease(claim_key))  # the lease lapsed meanwhile
        settled.append(runner.settle_abandoned(request.run_id, claims))
        return verdict

    runner.safety.reserve = frozen_after  # type: ignore[method-assign,assignment]
    claim = claims.acquire(request.subject_id, request.action)
    assert runner.execute(request, claim) is None  # nothing more to record: settled
    (record,) = settled
    assert record is not None and record.status == RemediationStatus.INTERRUPTED
    assert sent_commands(aws) == []
    assert [r.status for r in h.records()] == [RemediationStatus.INTERRUPTED]
    assert h.client.get(redis_keys.lock(instance)) is None


def test_an_attempt_whose_lease_lapsed_with_nobody_taking_over_sends_and_keeps_its_run(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, 1, tags={"Name": "slow"})
    h = harness(RESTART, aws_url=aws_url)
    runner = h.remediator.runner
    claims = h.remediator.workflow.parts.claims
    request = restart_request(anomaly, instance)
    reserve = runner.safety.reserve
    claim_key = redis_keys.claim(request.subject_id, request.action)

    def lapsed_after(checks: SafetyRequest, now_ms: int | None = None) -> SafetyVerdict:
        verdict = reserve(checks, now_ms)
        h.client.delete(redis_keys.lease(claim_key))
        return verdict

    runner.safety.reserve = lapsed_after  # type: ignore[method-assign,assignment]
    running = runner.execute(request, claims.acquire(request.subject_id, request.action))
    assert running is not None and running.status == RemediationStatus.RUNNING
    assert len(sent_commands(aws)) == 1
