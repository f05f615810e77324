"""An action that waited (for people, in the queue) runs under the rules in force when it runs:
a target deny-listed by a rules reload meanwhile is refused, whoever approved it; so is the
action of a rule taken out of service (removed, or in shadow mode), narrowed so that it no
longer covers the anomaly, or changed to propose another action while it waited; a rule that
asks more people now waits for them; a cooldown lengthened or a blast radius lowered meanwhile
holds it; and a worker that cannot read the rules in force decides nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.remediator.core.actions.catalogue import load_catalogue
from services.remediator.core.actions.registry import build_registry
from services.remediator.errors import RulesUnreadableError
from services.remediator.handling.manual import ManualRequest, prepare
from services.remediator.stores import redis_keys
from services.remediator.stores.rules import RuleStore
from shared.events import RemediationRecord, RemediationStatus, Severity
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import CATALOGUE, AnomalyFactory

RULES = """\
version: 1
policy:
  approval_for_risk: [high]
  deny_targets: [DENIED]
rules:
  - name: idle
    match: {metric: idle_ratio, severity_at_least: low}
    risk: high
    actions: [{action: restart_service, params: {service: app}}]
"""


def _waiting(h: Harness, anomaly: AnomalyFactory) -> str:
    """The rule's action on db-1, waiting for approval: its approval's id."""
    pending = h.workflow.handle(
        anomaly(resource_id="db-1", metric="idle_ratio", severity=Severity.LOW)
    )
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    assert pending.approval_id is not None
    return pending.approval_id


def _reload(h: Harness, rules: str) -> None:
    h.remediator.rules.path.write_text(rules)
    h.remediator.rules.load_and_publish()


def _approved_and_run(h: Harness, approval_id: str) -> RemediationRecord:
    """Approved (by bo), and its task taken by a worker: what the worker records."""
    assert h.remediator.decisions.approve(approval_id, "bo", person="bo").complete
    (request,) = h.work.executions
    record = h.workflow.execute_request(request)
    assert record is not None
    return record


def test_an_approved_action_on_a_target_denied_since_it_was_asked_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    _reload(h, RULES.replace("DENIED", "db-*"))  # db-1 goes on the deny list meanwhile
    record = _approved_and_run(h, approval_id)
    assert record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "deny_list" and "'db-*'" in record.reason


@pytest.mark.parametrize(
    ("rules_now", "why"),
    [
        (RULES.replace("  - name: idle\n", "  - name: idle\n    mode: shadow\n"), "in shadow mode"),
        (RULES.replace("name: idle", "name: idle-v2"), "no longer in the rules file"),
    ],
)
def test_an_approved_action_of_a_rule_taken_out_of_service_since_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, rules_now: str, why: str
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    _reload(h, rules_now.replace("DENIED", "bastion-*"))
    record = _approved_and_run(h, approval_id)
    assert record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "rule_withdrawn" and f"rule idle is {why}" in record.reason


def test_an_approved_action_its_rule_no_longer_proposes_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    now = RULES.replace("DENIED", "bastion-*").replace(
        "[{action: restart_service, params: {service: app}}]", "[{action: enhance_monitoring}]"
    )
    _reload(h, now)  # the operators take the restart back: the rule only watches now
    record = _approved_and_run(h, approval_id)
    assert record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "rule_withdrawn"
    assert "rule idle no longer proposes restart_service" in record.reason


def test_an_approved_action_whose_rule_asks_more_people_now_waits_for_them(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    _reload(
        h,
        RULES.replace("DENIED", "bastion-*").replace(
            "    risk: high\n", "    risk: high\n    approvals_required: 2\n"
        ),
    )
    record = _approved_and_run(h, approval_id)  # bo's approval alone
    assert record.status == RemediationStatus.PENDING_APPROVAL, record.reason
    assert "approved by 1 person" in record.reason
    assert record.approval_id is not None
    h.work.executions.clear()
    refused = h.remediator.decisions.approve(record.approval_id, "bo", person="bo")
    assert not refused.complete  # bo counts once
    assert h.remediator.decisions.approve(record.approval_id, "cy", person="cy").complete
    (request,) = h.work.executions
    ran = h.workflow.execute_request(request)
    assert ran is not None
    assert ran.status == RemediationStatus.DRY_RUN, ran.reason


def test_an_approved_action_of_a_rule_switched_to_shadow_automatically_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    shadow = h.remediator.auto_shadow
    assert shadow.count_not_improved("idle", "run-1", after=1, window_s=3600) is not None
    record = _approved_and_run(h, approval_id)
    assert record.blocked_by == "rule_withdrawn" and "did not improve anything" in record.reason


def test_a_queued_manual_request_on_a_target_denied_since_it_was_asked_is_refused(
    harness: HarnessFactory,
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    body = {
        "action": "cleanup_disk",
        "target": {"tags": {"Name": "db-1"}},
        "reason": "disk filling",
        "by": "ana",
    }
    prepared = prepare(h.workflow, ManualRequest.model_validate(body), "cid", requested_by="ana")
    assert prepared.preview.next == "run"
    _reload(h, RULES.replace("DENIED", "db-*"))
    record = h.workflow.execute_request(prepared.request)
    assert record is not None and record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "deny_list" and "'db-*'" in record.reason


@pytest.mark.parametrize(
    ("narrowed", "why"),
    [
        ("severity_at_least: critical", "it acts on severity critical and above"),
        ('severity_at_least: low, resources: ["web-*"]', "does not cover resource db-1"),
    ],
    ids=["severity-raised", "resources-narrowed"],
)
def test_an_approved_action_its_rule_no_longer_covers_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, narrowed: str, why: str
) -> None:
    h = harness(RULES.replace("DENIED", "bastion-*"), executor="dry-run")
    approval_id = _waiting(h, anomaly)
    _reload(h, RULES.replace("DENIED", "bastion-*").replace("severity_at_least: low", narrowed))
    record = _approved_and_run(h, approval_id)
    assert record.status == RemediationStatus.BLOCKED and record.blocked_by == "rule_withdrawn"
    assert "rule idle no longer covers this anomaly" in record.reason and why in record.reason


LIMITED = """\
version: 1
policy:
  approval_for_risk: [high]
rules:
  - name: idle
    match: {metric: idle_ratio, severity_at_least: low}
    risk: high
    cooldown: COOLDOWN
    blast_radius: {max_targets: MAX, window: 1h}
    actions: [{action: restart_service, params: {service: app}}]
"""


def _limited(max_targets: int = 5, cooldown: str = "1s") -> str:
    return LIMITED.replace("MAX", str(max_targets)).replace("COOLDOWN", cooldown)


def _asked(h: Harness, anomaly: AnomalyFactory, resource: str, **fields: object) -> str:
    pending = h.workflow.handle(
        anomaly(resource_id=resource, metric="idle_ratio", severity=Severity.LOW, **fields)
    )
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    assert pending.approval_id is not None
    return pending.approval_id


def _run_approved(h: Harness, approval_id: str) -> RemediationRecord:
    h.work.executions.clear()
    return _approved_and_run(h, approval_id)


def test_a_blast_radius_lowered_since_an_action_was_asked_holds_it(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    """The dry-run executor takes the real reservation: a dry run here passed every limit."""
    h = harness(_limited(max_targets=5), executor="dry-run")
    first, second = _asked(h, anomaly, "db-1"), _asked(h, anomaly, "db-2")
    _reload(h, _limited(max_targets=1))  # two restarts asked at once: one target an hour now
    assert _run_approved(h, first).status == RemediationStatus.DRY_RUN
    again = _run_approved(h, second)
    assert again.status == RemediationStatus.BLOCKED and again.blocked_by == "blast_radius"


def test_a_cooldown_lengthened_since_an_action_was_asked_holds_it(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(_limited(cooldown="1s"), executor="dry-run")
    assert _run_approved(h, _asked(h, anomaly, "db-1")).status == RemediationStatus.DRY_RUN
    time.sleep(1.2)  # the rule's 1 s cooldown is over: another episode asks again
    later = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    second = _asked(h, anomaly, "db-1", observed_at=later)
    _reload(h, _limited(cooldown="1h"))
    again = _run_approved(h, second)
    assert again.status == RemediationStatus.BLOCKED and again.blocked_by == "cooldown"


def test_a_loosened_limit_does_not_lift_the_one_an_action_was_asked_under(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(_limited(max_targets=1), executor="dry-run")
    first, second = _asked(h, anomaly, "db-1"), _asked(h, anomaly, "db-2")
    _reload(h, _limited(max_targets=5))
    assert _run_approved(h, first).status == RemediationStatus.DRY_RUN
    again = _run_approved(h, second)
    assert again.status == RemediationStatus.BLOCKED and again.blocked_by == "blast_radius"


DISK = """\
version: 1
policy:
  deny_targets: DENIED
rules:
  - name: disk
    match: {metric: disk_used_percent, severity_at_least: low}
    actions: [{action: cleanup_disk, params: {paths: [/tmp]}}]
"""

NEWER_SCRIPT = """
  trim-caches-v2:
    description: A script the workers of the last release do not have.
    risk: low
    timeout_s: 60
    commands:
      - sync
"""


def test_a_worker_that_cannot_read_the_rules_in_force_decides_nothing(
    harness: HarnessFactory, anomaly: AnomalyFactory, tmp_path: Path
) -> None:
    """A newer release's API publishes rules denying db-* and naming a script this worker's
    catalogue lacks: deciding with the rules it had would ignore the new deny list."""
    h = harness(DISK.replace("DENIED", '["bastion-*"]'), executor="dry-run")
    disk = {"metric": "disk_used_percent", "severity": Severity.LOW}
    assert h.workflow.handle(anomaly(resource_id="web-1", **disk)) is not None
    newer = tmp_path / "catalogue-new.yaml"
    newer.write_text(CATALOGUE.read_text() + NEWER_SCRIPT)
    api_rules = tmp_path / "rules-new.yaml"
    api_rules.write_text(
        DISK.replace("DENIED", '["bastion-*", "db-*"]')
        + "  - name: memory\n    match: {metric: mem_used_percent}\n"
        "    actions: [{action: optimize_performance, params: {script: trim-caches-v2}}]\n"
    )
    RuleStore(h.client, api_rules, build_registry(load_catalogue(newer))).load_and_publish()
    before = len(h.records())
    event = anomaly(resource_id="db-1", **disk)
    with pytest.raises(RulesUnreadableError, match="upgrade or restart this worker"):
        h.workflow.handle(event)
    assert len(h.records()) == before  # nothing decided, nothing recorded
    assert not h.client.exists(redis_keys.claim(event.event_id, "cleanup_disk"))
