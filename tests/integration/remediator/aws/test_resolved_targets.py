"""Safety sees the thing, not its spelling: targets resolved through EC2 (moto's server, the real
aioboto3 client) before any check, manual requests on the same decision path as rules, and
nothing the caller chooses (``resource_id``) deciding a check."""

from __future__ import annotations

from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import ApprovalConflictError, RequestRefusedError
from services.remediator.handling.manual import ManualRequest, Preview, prepare
from services.remediator.stores.maintenance import MaintenanceWindows
from shared.events import RemediationRecord, RemediationStatus, utcnow
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands

RULES = """\
version: 1
policy:
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
  deny_targets: ["db-*"]
  verify: off
rules: []
"""


def ask(h: Harness, target: dict[str, Any], **body: Any) -> tuple[ActionRequest, Preview]:
    fields: dict[str, Any] = {
        "action": "cleanup_disk",
        "target": target,
        "params": {"paths": ["/tmp"], "clean_package_cache": False},
        "reason": "disk filling",
        "by": "ana",
    }
    fields.update(body)
    prepared = prepare(h.workflow, ManualRequest.model_validate(fields), "cid", requested_by="ana")
    return prepared.request, prepared.preview


def run(h: Harness, request: ActionRequest) -> RemediationRecord:
    record = h.workflow.execute_request(request)
    assert record is not None
    h.run_polls()
    return record


def refusal(h: Harness, target: dict[str, Any], **body: Any) -> RequestRefusedError:
    with pytest.raises(RequestRefusedError) as caught:
        ask(h, target, **body)
    return caught.value


def test_the_same_instance_by_id_and_by_name_tag_meets_one_cooldown(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(RULES, aws_url=aws_url)
    request, preview = ask(h, {"instance_ids": [instance]})
    assert preview.next == "run"
    assert run(h, request).status == RemediationStatus.RUNNING
    for spelling in ({"tags": {"Name": "web-1"}}, {"instance_ids": [instance, instance]}):
        refused = refusal(h, spelling)
        assert refused.rule == "cooldown" and instance in refused.reason
    assert len(sent_commands(aws)) == 1


def test_a_tag_target_becomes_the_tagged_instances_and_the_command_goes_to_exactly_them(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    tagged = instances(aws, 2, tags={"Name": "batch"})
    (other,) = instances(aws, 1, tags={"Name": "other"})
    h = harness(RULES, aws_url=aws_url)
    request, _ = ask(h, {"tags": {"Name": "batch"}})
    record = run(h, request)
    assert record.target == ",".join(sorted(tagged))
    (command,) = sent_commands(aws)
    # Sent by instance id, not by tag: what was checked is what runs. (moto's SendCommand
    # lists every instance it knows under InstanceIds, so the record says which were asked.)
    assert not command.get("Targets") and set(tagged) <= set(command["InstanceIds"])
    assert other not in record.target
    wildcard = refusal(h, {"tags": {"Name": "*"}})  # a label's * is that character
    assert wildcard.rule == "no_target"
    nobody = refusal(h, {"tags": {"Name": "nobody"}})
    assert nobody.rule == "no_target" and "no running or stopped instances tagged" in (
        nobody.reason
    )


def test_resource_id_cannot_take_a_target_out_of_a_maintenance_window_or_the_deny_list(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (web,) = instances(aws, tags={"Name": "web-7"})
    (db,) = instances(aws, tags={"Name": "db-1"})
    h = harness(RULES, aws_url=aws_url)
    now = utcnow()
    MaintenanceWindows(h.client).add(
        "web-*", now, now.replace(year=now.year + 1), reason="deploy", created_by="ops"
    )
    in_window = refusal(h, {"instance_ids": [web]}, resource_id="anything")
    assert in_window.rule == "maintenance"
    denied = refusal(h, {"instance_ids": [db]}, resource_id="anything")
    assert denied.rule == "deny_list" and "db-1 matches deny-list pattern 'db-*'" in denied.reason
    assert sent_commands(aws) == []


def test_an_unknown_instance_is_refused_not_acted_on(harness: HarnessFactory, aws_url: str) -> None:
    h = harness(RULES, aws_url=aws_url)
    refused = refusal(h, {"instance_ids": ["i-0123456789abcdef0"]})
    assert refused.rule == "no_target"


def test_a_production_critical_instance_needs_two_people_other_than_the_requester(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    """A low-risk manual request on an instance tagged production-critical takes the policy's
    M-of-N, as a rule-driven one would; the one who asked is not one of the N."""
    (instance,) = instances(aws, tags={"Name": "pay-1", "criticality": "production-critical"})
    h = harness(RULES, aws_url=aws_url)
    request, preview = ask(h, {"instance_ids": [instance]})
    assert (preview.next, preview.approvals_required) == ("approval", 2)
    assert "production-critical" in preview.why
    pending = run(h, request)
    assert pending.status == RemediationStatus.PENDING_APPROVAL
    approval_id = pending.approval_id
    assert approval_id is not None and approval_id == preview.approval_id
    assert sent_commands(aws) == []
    decisions = h.remediator.decisions
    with pytest.raises(ApprovalConflictError, match="asked for this action"):
        decisions.approve(approval_id, "ana", person="ana")
    first = decisions.approve(approval_id, "bo", person="bo")
    assert first.approval.state == "pending"
    second = decisions.approve(approval_id, "cy", person="cy")
    assert second.approval.state == "approved"


def test_manual_requests_count_against_the_policys_blast_radius(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    first, second = instances(aws, 2, tags={"Name": "web"})
    h = harness(
        RULES.replace("verify: off", "verify: off\n  blast_radius: {max_targets: 1}"),
        aws_url=aws_url,
    )
    request, _ = ask(h, {"instance_ids": [first]})
    assert run(h, request).status == RemediationStatus.RUNNING
    refused = refusal(h, {"instance_ids": [second]})
    assert refused.rule == "blast_radius"
