"""The remediation workflow in-process on a real Redis and a local AWS API server: every
decision ends in a record, actions run once, and each refusal says why."""

from __future__ import annotations

from datetime import timedelta

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.executors.base import Job
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import AuditQuery
from services.remediator.stores.claims import Claim
from shared.events import AnomalyEvent, RemediationStatus, Severity, utcnow
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import groups, instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

RESTART = """\
version: 1
policy: {deny_targets: ["tag:Name=bastion*"]}
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: nginx}}]
  - name: watch-memory
    mode: shadow
    match: {metric: cpu_*}
    actions: [{action: enhance_monitoring}]
"""


def test_an_action_is_sent_once_polled_and_recorded(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    running = h.workflow.handle(event)
    assert running is not None and running.status == RemediationStatus.RUNNING
    assert running.command_id and running.rule == "cpu" and running.target == instance
    assert h.workflow.handle(event) is None  # a redelivery sends nothing
    h.run_polls()
    statuses = [(r.status, r.shadow) for r in h.records()]
    assert statuses == [
        (RemediationStatus.PROPOSED, True),  # the shadow rule: "would have run"
        (RemediationStatus.RUNNING, False),
        (RemediationStatus.SUCCEEDED, False),
    ]
    done = h.records()[-1]
    assert done.exit_code == 0 and done.duration_s is not None
    assert done.run_id == running.run_id and done.command_id == running.command_id
    assert len(sent_commands(aws)) == 1  # the shadow rule touched nothing
    assert not h.client.exists(redis_keys.lock(instance))
    # The target cools down: another anomaly on it is refused, with the reason.
    again = h.workflow.handle(
        anomaly(resource_id=instance, observed_at=event.observed_at + timedelta(seconds=5))
    )
    assert again is not None
    assert (again.status, again.blocked_by) == (RemediationStatus.BLOCKED, "cooldown")
    assert "cooldown ends in" in again.reason


def test_shadow_records_say_what_would_have_happened(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RESTART, dry_run=True)
    h.workflow.handle(anomaly())
    shadow, live = h.records()
    assert shadow.shadow and shadow.status == RemediationStatus.PROPOSED
    assert shadow.reason.startswith(
        "shadow rule watch-memory would have run: switch on detailed monitoring for instances "
        "tagged Name=web-1"
    )
    assert live.status == RemediationStatus.DRY_RUN and live.rule == "cpu"
    assert h.client.keys(redis_keys.lock("*")) == []


def test_refusals_are_recorded_with_the_check_that_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RESTART, denied_targets="db-*")
    denied = h.workflow.handle(anomaly(resource_id="bastion-1"))
    assert denied is not None and denied.blocked_by == "deny_list"
    assert "matches deny-list pattern 'tag:Name=bastion*'" in denied.reason
    by_settings = h.workflow.handle(anomaly(resource_id="db-1"))
    assert by_settings is not None and by_settings.blocked_by == "deny_list"
    h = harness(RESTART, allowed_actions="cleanup_disk")
    not_allowed = h.workflow.handle(anomaly(resource_id="web-9"))
    assert not_allowed is not None and not_allowed.blocked_by == "not_allowed"
    assert "restart_service is not on the allow list (cleanup_disk)" in not_allowed.reason
    low = h.workflow.handle(anomaly(resource_id="web-8", severity=Severity.LOW))
    assert low is not None and low.status == RemediationStatus.NO_ACTION


DEBOUNCED = """\
version: 1
rules:
  - name: cpu-lasting
    match: {metric: cpu_*}
    for: 5m
    actions: [{action: restart_service, params: {service: app}}]
  - name: disk-repeated
    match: {metric: disk_*}
    for_samples: 3
    actions: [{action: cleanup_disk}]
"""


def test_a_debounced_rule_waits_then_acts_if_the_condition_held(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(DEBOUNCED, dry_run=True)
    first = anomaly()
    waiting = h.workflow.handle(first)
    assert waiting is not None and waiting.status == RemediationStatus.PROPOSED
    assert waiting.blocked_by == "debounce"
    assert "acts once the condition has held 5m (so far 0s)" in waiting.reason
    ((rechecked, rule, delay),) = h.work.rechecks
    assert (rule, delay) == ("cpu-lasting", 300.0)
    assert h.workflow.handle(first) is None  # a redelivery while waiting does nothing
    acted = h.workflow.recheck(rechecked, rule)
    assert acted is not None and acted.status == RemediationStatus.DRY_RUN
    assert h.workflow.recheck(rechecked, rule) is None


def test_a_condition_that_cleared_is_not_acted_on(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(DEBOUNCED, dry_run=True)
    first = anomaly(resource_id="web-2")
    h.workflow.handle(first)
    h.remediator.workflow.parts.debouncer.end("web-2", "cpu_utilization")  # resolved
    cleared = h.workflow.recheck(first, "cpu-lasting")
    assert cleared is not None and cleared.status == RemediationStatus.NO_ACTION
    assert "cleared before rule cpu-lasting acted" in cleared.reason


def test_a_rule_needing_several_events_acts_on_the_last(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(DEBOUNCED, dry_run=True)
    start = utcnow() - timedelta(minutes=5)
    statuses = []
    for n in range(3):
        event = anomaly(metric="disk_used", observed_at=start + timedelta(seconds=30 * n))
        record = h.workflow.handle(event)
        assert record is not None
        statuses.append(record.status)
    assert statuses == [
        RemediationStatus.PROPOSED,
        RemediationStatus.PROPOSED,
        RemediationStatus.DRY_RUN,
    ]
    assert "3 anomaly events (so far 2)" in h.records()[1].reason


APPROVAL = """\
version: 1
policy:
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
rules:
  - name: scale-in
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
  - name: restart
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: app}}]
"""


def test_high_risk_waits_for_approval_then_runs_through_the_checks(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(APPROVAL, executor="dry-run")
    pending = h.workflow.handle(anomaly(metric="idle_ratio", severity=Severity.LOW))
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    assert pending.approval_id and pending.expires_at is not None
    assert "high risk actions need approval" in pending.reason
    decision = h.remediator.decisions.approve(pending.approval_id, "ana")
    assert decision.complete
    (request,) = h.work.executions
    assert request.decided_by == "ana" and not request.automatic
    executed = h.workflow.execute_request(request)
    assert executed is not None and executed.status == RemediationStatus.DRY_RUN
    assert executed.decided_by == "ana" and executed.approval_id == pending.approval_id
    assert h.workflow.execute_request(request) is None
    assert [r.status for r in h.records()] == [
        RemediationStatus.PENDING_APPROVAL,
        RemediationStatus.APPROVED,
        RemediationStatus.DRY_RUN,
    ]


def test_production_critical_targets_need_two_different_people(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(APPROVAL)
    event = anomaly(labels={"criticality": "production-critical"})
    pending = h.workflow.handle(event)
    assert pending is not None and pending.approval_id
    assert "waits for 2 different people" in pending.reason
    decisions = h.remediator.decisions
    assert not decisions.approve(pending.approval_id, "ana").complete
    try:
        decisions.approve(pending.approval_id, "ana")
        raise AssertionError("the same person approved twice")
    except Exception as exc:
        assert "another person must approve" in str(exc)
    assert decisions.approve(pending.approval_id, "ben").complete
    assert h.work.executions[0].decided_by == "ana, ben"


def test_an_expired_approval_is_refused_and_recorded_once(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(APPROVAL, approval_ttl_s=10)
    pending = h.workflow.handle(anomaly(metric="idle_x", severity=Severity.LOW))
    assert pending is not None and pending.approval_id
    sync_redis.hset(redis_keys.approval(pending.approval_id), "expires_at_ms", 1)  # time passes
    try:
        h.remediator.decisions.approve(pending.approval_id, "ana")
        raise AssertionError("an expired approval was accepted")
    except Exception as exc:
        assert "expired at" in str(exc)
    assert h.remediator.decisions.expire_due() == []  # already recorded, not twice
    expired = [r for r in h.records() if r.status == RemediationStatus.EXPIRED]
    assert len(expired) == 1 and "approval expired at" in expired[0].reason
    assert h.work.executions == []


def test_the_sweep_expires_what_nobody_decided(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(APPROVAL)
    pending = h.workflow.handle(anomaly(metric="idle_y", severity=Severity.LOW))
    assert pending is not None and pending.approval_id
    sync_redis.zadd(redis_keys.PENDING_APPROVALS, {pending.approval_id: 1})
    sync_redis.hset(redis_keys.approval(pending.approval_id), "expires_at_ms", 1)
    (expired,) = h.remediator.decisions.expire_due()
    assert expired.state == "expired"
    assert h.remediator.approvals.count_pending() == 0


FAILING = """\
version: 1
rules:
  - name: scale
    match: {metric: latency}
    actions: [{action: scale_out, target: {auto_scaling_group: "{label:asg}"}}]
"""


def test_failures_open_the_circuit_breaker(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    groups(aws, {f"full-{n}": 1 for n in range(3)}, headroom=0)
    h = harness(FAILING, aws_url=aws_url, breaker_failures=2, cooldown_s=0)
    for n in range(2):
        event = anomaly(resource_id=f"api-{n}", metric="latency", labels={"asg": f"full-{n}"})
        failed = h.workflow.handle(event)
        assert failed is not None and failed.status == RemediationStatus.FAILED
        assert failed.error_code == "AtCapacityLimit"
    blocked = h.workflow.handle(anomaly(metric="latency", labels={"asg": "full-2"}))
    assert blocked is not None and blocked.blocked_by == "circuit_breaker"
    assert "an admin must reset it" in blocked.reason
    assert h.remediator.safety.reset_breaker()


def reserve_as_a_worker_would(h: Harness, event: AnomalyEvent) -> tuple[Claim, Job]:
    """What a worker does before it sends the command: claim the anomaly, decide, take the
    safety reservation. The test then plays the worker's death at the next step."""
    parts = h.workflow.parts
    claim = parts.claims.acquire(event.event_id, "restart_service")
    engine = parts.rules.engine()
    live = engine.evaluate(event).live
    assert live is not None
    request = h.workflow.build_request(
        event, live, h.workflow.choose(event, live, engine), engine, dry_run=False
    )
    job = parts.runner.checks.static(request)
    assert isinstance(job, Job)
    checks = parts.runner.checks.request_for(request, job.definition, job.params)
    assert parts.runner.safety.reserve(checks).reservation
    return claim, job


def test_a_dead_attempt_is_recorded_as_interrupted_and_its_lock_freed(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """The state a worker leaves when it dies after reserving, before sending the command."""
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    claim, _ = reserve_as_a_worker_would(h, event)
    h.client.delete(redis_keys.lease(claim.key))  # the worker is gone
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.INTERRUPTED
    assert "no SSM command of this run exists, so it was not sent" in record.reason
    assert sent_commands(aws) == []
    assert not h.client.exists(redis_keys.lock(instance))
    assert h.workflow.handle(event) is None


def test_a_command_sent_by_a_dead_attempt_is_polled_not_sent_again(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    h.workflow.handle(event)
    h.work.polls.clear()  # the poll task was lost with its worker
    claim_key = redis_keys.claim(event.event_id, "restart_service")
    h.client.set(claim_key, "started")
    assert h.workflow.handle(event) is None
    assert len(h.work.polls) == 1
    h.run_polls()
    assert [r.status for r in h.records() if not r.shadow] == [
        RemediationStatus.RUNNING,
        RemediationStatus.SUCCEEDED,
    ]
    assert len(sent_commands(aws)) == 1


def test_the_audit_log_filters_and_pages(harness: HarnessFactory, anomaly: AnomalyFactory) -> None:
    h = harness(RESTART, dry_run=True)
    for n in range(7):
        h.workflow.handle(anomaly(resource_id=f"web-{n}"))
    audit = h.remediator.audit
    live = audit.query(AuditQuery(status="dry_run", limit=3))
    assert [r.resource_id for r in live.records] == ["web-6", "web-5", "web-4"]
    rest = audit.query(AuditQuery(status="dry_run", limit=10, cursor=live.next_cursor))
    assert [r.resource_id for r in rest.records] == ["web-3", "web-2", "web-1", "web-0"]
    one = audit.query(AuditQuery(resource_id="web-2", rule="watch-memory"))
    assert [(r.resource_id, r.shadow) for r in one.records] == [("web-2", True)]
    assert audit.query(AuditQuery(action="scale_in")).records == []


def test_a_command_sent_before_its_id_was_stored_is_found_not_resent(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """The worker died between SendCommand and storing the CommandId."""
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    parts = h.workflow.parts
    claim, job = reserve_as_a_worker_would(h, event)
    parts.runner.executor.start(job)  # sent; then the worker died
    h.client.delete(redis_keys.lease(claim.key))
    resumed = h.workflow.handle(event)
    assert resumed is not None and resumed.status == RemediationStatus.RUNNING
    h.run_polls()
    assert [r.status for r in h.records() if not r.shadow] == [
        RemediationStatus.RUNNING,
        RemediationStatus.SUCCEEDED,
    ]
    assert len(sent_commands(aws)) == 1


def test_a_redis_that_lost_its_scripts_still_gets_one_decision_per_anomaly(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """The claim and the safety peek are sent by their scripts' hashes with the decision's
    reads; a Redis restarted since (its scripts gone) still decides once, and refuses alike."""
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    h.client.script_flush()
    running = h.workflow.handle(event)
    assert running is not None and running.status == RemediationStatus.RUNNING
    h.client.script_flush()
    assert h.workflow.handle(event) is None  # the redelivery finds the claim and sends nothing
    assert len(sent_commands(aws)) == 1
    h.run_polls()
    h.client.script_flush()
    again = h.workflow.handle(
        anomaly(resource_id=instance, observed_at=event.observed_at + timedelta(seconds=5))
    )
    assert again is not None
    assert (again.status, again.blocked_by) == (RemediationStatus.BLOCKED, "cooldown")
