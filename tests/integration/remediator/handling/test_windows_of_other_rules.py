"""A rule's own cooldown and blast-radius window must hold whatever another rule (or
the policy, for manual requests) with a shorter window did on the same targets meanwhile."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis

from services.remediator.aws.session import AwsApi
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

# restart: its rule says "at most once an hour on a target"; cleanup: the default cooldown.
COOLDOWNS = """\
version: 1
policy: {verify: off}
rules:
  - name: cpu-restart
    match: {metric: cpu_*}
    cooldown: 1h
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
  - name: disk-cleanup
    match: {metric: disk_*}
    actions:
      - action: cleanup_disk
        target: {instance_id: "{resource_id}"}
        params: {paths: ["/tmp"], clean_package_cache: false}
"""


def decide(h: Harness, event: object) -> RemediationStatus:
    record = h.workflow.handle(event)  # type: ignore[arg-type]
    assert record is not None
    h.run_polls()
    return record.status


def test_a_rules_one_hour_cooldown_holds_after_an_action_with_the_default_cooldown(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """SCOPS_COOLDOWN_S stands at 1 s here to keep the test short; with the default 300 s the
    same happens 5 minutes after the cleanup."""
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(COOLDOWNS, aws_url=aws_url, cooldown_s=1, rate_limit_per_hour=100)
    t0 = anomaly(resource_id=instance).observed_at
    # 1. the restart rule acts: the target must now cool down for an hour (its rule's cooldown)
    assert decide(h, anomaly(resource_id=instance, observed_at=t0)) == RemediationStatus.RUNNING
    # 2. a disk anomaly 1.5 s later: its rule's cooldown is the default (1 s): it runs
    time.sleep(1.5)
    disk = anomaly(resource_id=instance, metric="disk_used", observed_at=t0)
    assert decide(h, disk) == RemediationStatus.RUNNING
    # 3. 1.5 s later again, the CPU rule sees its target acted on 3 s ago (restart) and
    #    1.5 s ago (cleanup): its one-hour cooldown must refuse.
    time.sleep(1.5)
    again = h.workflow.handle(anomaly(resource_id=instance, observed_at=t0 + timedelta(seconds=10)))
    assert again is not None
    restarts = [c for c in sent_commands(aws) if "systemctl" in str(c.get("Parameters"))]
    assert (again.status, again.blocked_by) == (RemediationStatus.BLOCKED, "cooldown"), (
        again.status,
        again.reason,
        len(restarts),
    )


# Two rules use restart_service; the first allows 2 distinct targets an hour, the second 5 a
# minute (the window is 1 s in the test to keep it short).
BLAST = """\
version: 1
policy: {verify: off}
rules:
  - name: cpu-restart
    match: {metric: cpu_*}
    cooldown: 0
    blast_radius: {max_targets: 2, window: 1h}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
  - name: mem-restart
    match: {metric: mem_*}
    cooldown: 0
    blast_radius: {max_targets: 5, window: 1s}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""


def test_a_rules_one_hour_blast_radius_holds_after_a_rule_with_a_shorter_window(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    fleet = sorted(instances(aws, 4, tags={"Name": "web"}))
    h = harness(BLAST, aws_url=aws_url, cooldown_s=0, rate_limit_per_hour=100)
    t0 = anomaly().observed_at
    # cpu-restart acts on its first target of the hour
    assert decide(h, anomaly(resource_id=fleet[0], observed_at=t0)) == RemediationStatus.RUNNING
    # mem-restart acts on another instance (its own window is 1 s)
    mem = anomaly(resource_id=fleet[1], metric="mem_used", observed_at=t0)
    assert decide(h, mem) == RemediationStatus.RUNNING
    time.sleep(1.5)
    statuses = []
    for n, target in enumerate(fleet[2:], start=1):
        event = anomaly(resource_id=target, observed_at=t0 + timedelta(seconds=n))
        statuses.append(decide(h, event))
    cpu_targets = [fleet[0]] + [
        t for t, s in zip(fleet[2:], statuses, strict=True) if s != "blocked"
    ]
    # cpu-restart's blast radius: at most 2 distinct targets within 1h
    assert len(cpu_targets) <= 2, (statuses, len(sent_commands(aws)))


@pytest.mark.parametrize("limit", ["max_targets", "max_percent"])
def test_the_store_keeps_what_the_longest_window_needs(sync_redis: redis.Redis, limit: str) -> None:
    """The same at the level of the atomic step, with explicit clocks: a request with a short
    window trims (and expires) the per-action and per-group counts that a request with a
    longer window relies on."""
    from services.remediator.core.safety_policy import SafetyLimits
    from services.remediator.stores.safety import SafetyManager, SafetyRequest

    limits = SafetyLimits(rate_limit=100, cooldown_s=0, dry_run=False)
    safety = SafetyManager(sync_redis, limits)
    t0 = 1_800_000_000_000
    ids = [f"i-0aaaaaaaaaaaaaaa{n}" for n in range(1, 5)]

    def reserve(
        at: int, instance: str, window_s: float, blast_max: int, group_max: int
    ) -> str | None:
        checks = SafetyRequest(
            "restart_service",
            instance,
            instance,
            run_id=f"run-{at}",
            blast_max=blast_max,
            blast_window_s=window_s,
            group="web",
            group_size=8,
            group_percent=25,
            group_max=group_max,
            group_members=(instance,),
            members=(instance,),
        )
        verdict = safety.reserve(checks, t0 + at)
        if verdict.reservation:
            safety.release(checks, verdict.reservation, "succeeded")
        return verdict.blocked_by

    # hourly limit of 2 (targets and group share) for one rule; 5 a second for another rule
    hourly, fast = (2, 5) if limit == "max_targets" else (0, 0)
    share, fast_share = (2, 5) if limit == "max_percent" else (0, 0)
    assert reserve(0, ids[0], 3600, hourly, share) is None
    assert reserve(2_000, ids[1], 1, fast, fast_share) is None  # trims ids[0] from the count
    # ids[0] and ids[1] were acted on within the hour: a third target breaks 2 per hour
    assert reserve(2_001, ids[2], 3600, hourly, share) == "blast_radius"


def test_status_lists_a_target_while_it_cools_down_not_while_it_is_remembered(
    sync_redis: redis.Redis,
) -> None:
    """The last action on a target is remembered for a week (for longer rules' checks), but
    status lists the target only for the cooldown the action started."""
    from services.remediator.core.safety_policy import SafetyLimits
    from services.remediator.stores import redis_keys
    from services.remediator.stores.safety import SafetyManager, SafetyRequest

    safety = SafetyManager(sync_redis, SafetyLimits(rate_limit=100, cooldown_s=1, dry_run=False))
    instance = "i-0bbbbbbbbbbbbbbb1"
    checks = SafetyRequest(
        "restart_service", instance, instance, run_id="run-1", members=(instance,)
    )
    verdict = safety.reserve(checks)
    assert verdict.reservation
    safety.release(checks, verdict.reservation, "succeeded")
    assert instance in safety.state().cooldowns
    time.sleep(1.2)
    assert instance not in safety.state().cooldowns
    week = 7 * 86400 * 1000
    assert sync_redis.pttl(redis_keys.cooldown(instance)) > week - 60_000
    longer = SafetyRequest(
        "restart_service", instance, instance, run_id="run-2", cooldown_s=3600, members=(instance,)
    )
    assert safety.peek(longer).blocked_by == "cooldown"
