"""An approved action runs under the world as it is when it runs, not as it was when it was
asked: a target tagged production-critical, put in a maintenance window or on the deny list
(by its tags), cooled down or past the hour's rate limit while the request waited for people
is held (or waits for the people it now needs), whoever approved it. EC2 is moto's server,
through the real aioboto3 client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import ApprovalConflictError
from services.remediator.handling.manual import ManualRequest, prepare
from services.remediator.stores.maintenance import MaintenanceWindows
from shared.events import RemediationRecord, RemediationStatus, utcnow
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands

RULES = """\
version: 1
policy:
  approval_for_risk: [low, medium, high]
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
  deny_targets: ["db-*"]
  verify: off
rules: []
"""


def tag(aws: AwsApi, instance: str, tags: dict[str, str]) -> None:
    async def run() -> None:
        async with aws.client("ec2") as ec2:
            pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
            await ec2.create_tags(Resources=[instance], Tags=pairs)

    asyncio.run(run())


def ask(h: Harness, instance: str, by: str = "ana") -> ActionRequest:
    body: dict[str, Any] = {
        "action": "cleanup_disk",
        "target": {"instance_ids": [instance]},
        "params": {"paths": ["/tmp"], "clean_package_cache": False},
        "reason": "disk filling",
        "by": by,
    }
    prepared = prepare(h.workflow, ManualRequest.model_validate(body), "cid", requested_by=by)
    return prepared.request


def pending(h: Harness, instance: str, by: str = "ana") -> str:
    """A person's request on ``instance``, waiting for approval; its approval id."""
    record = h.workflow.execute_request(ask(h, instance, by))
    assert record is not None and record.status == RemediationStatus.PENDING_APPROVAL
    assert record.approval_id is not None
    return record.approval_id


def approve_and_run(h: Harness, approval_id: str, *people: str) -> RemediationRecord:
    for person in people:
        h.remediator.decisions.approve(approval_id, person, person=person)
    request = h.work.executions.pop()
    assert not h.work.executions
    record = h.workflow.execute_request(request)
    assert record is not None
    return record


def test_a_target_tagged_production_critical_while_it_waited_needs_the_critical_approvals(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "pay-1"})
    h = harness(RULES, aws_url=aws_url)
    approval_id = pending(h, instance)
    tag(aws, instance, {"criticality": "production-critical"})
    record = approve_and_run(h, approval_id, "bo")
    assert record.status == RemediationStatus.PENDING_APPROVAL, record.reason
    assert "production-critical" in record.reason and "2 different people" in record.reason
    assert record.approval_id is not None and record.approval_id != approval_id
    assert sent_commands(aws) == []
    again = record.approval_id
    assert h.remediator.approvals.get(again).required == 2
    h.remediator.decisions.approve(again, "bo", person="bo")
    assert not h.work.executions  # one person is not two
    ran = approve_and_run(h, again, "cy")
    assert ran.status == RemediationStatus.RUNNING, ran.reason
    assert len(sent_commands(aws)) == 1


def test_the_requester_still_cannot_approve_the_critical_approvals_asked_again(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "pay-2"})
    h = harness(RULES, aws_url=aws_url)
    approval_id = pending(h, instance)
    tag(aws, instance, {"criticality": "production-critical"})
    record = approve_and_run(h, approval_id, "bo")
    assert record.status == RemediationStatus.PENDING_APPROVAL and record.approval_id is not None
    with pytest.raises(ApprovalConflictError, match="asked for this action"):
        h.remediator.decisions.approve(record.approval_id, "ana", person="ana")


def test_a_maintenance_window_opened_on_its_name_tag_while_it_waited_holds_it(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-3"})
    h = harness(RULES, aws_url=aws_url)
    approval_id = pending(h, instance)
    now = utcnow()
    MaintenanceWindows(h.client).add(
        "web-*", now, now.replace(year=now.year + 1), reason="deploy", created_by="ops"
    )
    record = approve_and_run(h, approval_id, "bo")
    assert record.status == RemediationStatus.BLOCKED and record.blocked_by == "maintenance"
    assert sent_commands(aws) == []


def test_a_name_tag_on_the_deny_list_given_while_it_waited_refuses_it(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "spare-1"})
    h = harness(RULES, aws_url=aws_url)
    approval_id = pending(h, instance)
    tag(aws, instance, {"Name": "db-9"})
    record = approve_and_run(h, approval_id, "bo")
    assert record.status == RemediationStatus.BLOCKED and record.blocked_by == "deny_list"
    assert sent_commands(aws) == []


def test_a_cooldown_started_by_another_action_while_it_waited_holds_it(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-4"})
    h = harness(RULES, aws_url=aws_url)
    first, second = pending(h, instance), pending(h, instance, by="dan")
    assert approve_and_run(h, first, "bo").status == RemediationStatus.RUNNING
    record = approve_and_run(h, second, "cy")
    assert record.status == RemediationStatus.BLOCKED and record.blocked_by in ("lock", "cooldown")
    assert len(sent_commands(aws)) == 1


def test_the_hours_rate_limit_reached_while_it_waited_holds_it(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    one, two = instances(aws, 2, tags={"Name": "web-5"})
    h = harness(RULES, aws_url=aws_url, rate_limit_per_hour=1)
    first, second = pending(h, one), pending(h, two)
    assert approve_and_run(h, first, "bo").status == RemediationStatus.RUNNING
    record = approve_and_run(h, second, "bo")
    assert record.status == RemediationStatus.BLOCKED and record.blocked_by == "rate_limit"
    assert len(sent_commands(aws)) == 1
