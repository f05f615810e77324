"""An action that waited (for people, in the queue) runs under the rules in force when it runs:
a target deny-listed by a rules reload meanwhile is refused, whoever approved it; so is the
action of a rule taken out of service (removed, or in shadow mode) or changed to propose
another action while it waited; a rule that asks more people now waits for them."""

from __future__ import annotations

import pytest

from services.remediator.handling.manual import ManualRequest, prepare
from shared.events import RemediationRecord, RemediationStatus, Severity
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

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
