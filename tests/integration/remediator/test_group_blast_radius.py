"""Blast radius as a share of an Auto Scaling group, against moto's Auto Scaling through the
real aioboto3 client: several worker processes deciding at once act on at most that share of
each group (the group named by the anomaly's label, or found from the instance), and a group
that cannot be measured is refused rather than risked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.handling.evaluation import evaluate
from services.remediator.stores.safety import SafetyManager, SafetyRequest
from shared.events import RemediationStatus
from shared.tasks import HANDLE_ANOMALY
from tests.integration.remediator.conftest import HarnessFactory, aws_worker_env
from tests.support.aws_fleet import groups, instances, sent_commands
from tests.support.events import cpu_anomaly
from tests.support.processes import worker
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import AnomalyFactory
from tests.support.waiting import wait_for

RULES = """\
version: 1
policy: {verify: off}
rules:
  - name: restart
    match: {metric: cpu_*}
    blast_radius: {max_percent: 25, window: 1h}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""
TERMINAL = {RemediationStatus.SUCCEEDED, RemediationStatus.FAILED, RemediationStatus.BLOCKED}


def test_workers_at_once_act_on_at_most_the_share_of_each_group(
    redis_url: str,
    sync_redis: redis.Redis,
    log_dir: Path,
    tmp_path: Path,
    aws: AwsApi,
    aws_url: str,
) -> None:
    fleet = groups(aws, {"web": 8, "api": 4})
    assert (len(fleet["web"]), len(fleet["api"])) == (8, 4)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = aws_worker_env(redis_url, aws_url, rules)
    proc = worker(env, log_dir, concurrency=4).start()
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    start = datetime.now(UTC) - timedelta(minutes=1)
    # web's instances carry their group as a label; api's are found from AWS.
    events = [cpu_anomaly(i, start, {"asg": "web"}) for i in fleet["web"]]
    events += [cpu_anomaly(i, start) for i in fleet["api"]]
    began = time.monotonic()
    try:
        for event in events:
            celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})

        def all_decided() -> bool:
            done = {r.anomaly_id for r in remediation_records(sync_redis) if r.status in TERMINAL}
            return len(done) == len(events)

        wait_for(proc, all_decided, 40, "a final decision for every anomaly")
    finally:
        celery.close()
        assert proc.stop() == 0, proc.log_tail()
    assert time.monotonic() - began < 40

    final = [r for r in remediation_records(sync_redis) if r.status in TERMINAL]
    assert len(final) == len(events)
    for group, allowed in (("web", 2), ("api", 1)):
        mine = [r for r in final if r.resource_id in fleet[group]]
        succeeded = [r for r in mine if r.status == RemediationStatus.SUCCEEDED]
        blocked = [r for r in mine if r.status == RemediationStatus.BLOCKED]
        assert len(succeeded) == allowed, group
        assert len(blocked) == len(mine) - allowed, group
        assert {r.blocked_by for r in blocked} == {"blast_radius"}
        size = len(fleet[group])
        assert all(
            f"restart_service already acted on {allowed} of the {size} instances of Auto "
            f"Scaling group {group} within 1h (blast radius 25%: at most {allowed})" in r.reason
            for r in blocked
        )
    assert len(sent_commands(aws)) == 3


GONE = RULES.replace("policy: {verify: off}\n", "").replace(
    "{max_percent: 25, window: 1h}", "{max_percent: 25, group: '{label:asg}'}"
)


def test_a_group_that_cannot_be_measured_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(GONE, aws_url=aws_url)
    event = anomaly(resource_id=instance, labels={"asg": "no-such-group"})
    refused = h.workflow.handle(event)
    assert refused is not None and refused.status == RemediationStatus.BLOCKED
    assert refused.blocked_by == "blast_radius"
    assert "no Auto Scaling group 'no-such-group' to measure the 25% blast radius" in (
        refused.reason
    )
    seen = evaluate(h.workflow, event)  # POST /remediation/evaluate says the same
    assert seen.outcome == "blocked" and seen.safety is not None
    assert seen.safety.blocked_by == "blast_radius"


def test_the_share_counts_each_instance_once_within_the_window(sync_redis: redis.Redis) -> None:
    safety = SafetyManager(sync_redis, SafetyLimits(rate_limit=100, cooldown_s=0, dry_run=False))
    t0 = 1_800_000_000_000

    def reserve(at: int, *instances: str) -> str | None:
        checks = SafetyRequest(
            "restart_service",
            ",".join(instances),
            "web",
            run_id=f"run-{at}",
            group="web",
            group_size=8,
            group_percent=25,
            group_max=2,
            group_members=instances,
            members=instances,
        )
        verdict = safety.reserve(checks, t0 + at)
        if verdict.reservation:
            safety.release(checks, verdict.reservation, "succeeded")
        return verdict.blocked_by

    assert reserve(0, "i-0aaaaaaaaaaaaaaa1") is None
    assert reserve(1, "i-0aaaaaaaaaaaaaaa1") is None  # the same instance again: counted once
    assert reserve(2, "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3") == "blast_radius"  # 3 > 2
    assert reserve(3, "i-0aaaaaaaaaaaaaaa2") is None
    assert reserve(4, "i-0aaaaaaaaaaaaaaa3") == "blast_radius"
    assert reserve(3_600_001, "i-0aaaaaaaaaaaaaaa3") is None  # the first ones left the window
