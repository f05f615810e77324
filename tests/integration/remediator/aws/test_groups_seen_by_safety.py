"""Auto Scaling groups as the safety checks see them, against moto's server through the real
aioboto3 client: the share of a group an action may touch is counted against the group AWS
says the instances belong to (never a group an alert's label names), and an action on a
group meets the deny list and the production-critical policy through the group's own tags and
its instances' (ids and tags)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.errors import RequestRefusedError
from services.remediator.handling.manual import ManualRequest, prepare
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import AMI, group_tags, groups, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

SHARE = """\
version: 1
policy:
  verify: off
  blast_radius: {max_percent: 25, window: 1h}
rules:
  - name: restart
    match: {metric: cpu_*}
    blast_radius: {max_percent: 25, window: 1h}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""

TAGGED = """\
version: 1
policy:
  verify: off
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
  deny_targets: ["tag:Name=bastion*"]
rules:
  - name: scale
    match: {metric: latency}
    actions: [{action: scale_out, target: {auto_scaling_group: "{label:asg}"}}]
"""


def tagged_group(aws: AwsApi, name: str, tags: Mapping[str, str], size: int = 1) -> None:
    async def run() -> None:
        async with aws.client("autoscaling") as asg:
            await asg.create_launch_configuration(
                LaunchConfigurationName=f"lc-{name}", ImageId=AMI, InstanceType="t3.micro"
            )
            await asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchConfigurationName=f"lc-{name}",
                MinSize=0,
                MaxSize=size + 2,
                DesiredCapacity=size,
                AvailabilityZones=["us-east-1a"],
                Tags=group_tags(name, tags),
            )

    asyncio.run(run())


def name_instances(aws: AwsApi, names: Mapping[str, str]) -> None:
    async def run() -> None:
        async with aws.client("ec2") as ec2:
            for instance, name in names.items():
                await ec2.create_tags(Resources=[instance], Tags=[{"Key": "Name", "Value": name}])

    asyncio.run(run())


def desired(aws: AwsApi, name: str) -> int:
    async def run() -> int:
        async with aws.client("autoscaling") as asg:
            reply = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return int(reply["AutoScalingGroups"][0]["DesiredCapacity"])

    return asyncio.run(run())


def ask(h: Harness, action: str, target: dict[str, Any], **params: Any) -> str:
    body = {"action": action, "target": target, "params": params, "reason": "r", "by": "ana"}
    prepared = prepare(h.workflow, ManualRequest.model_validate(body), "cid", requested_by="ana")
    return prepared.preview.next


def test_a_label_naming_a_larger_group_does_not_widen_the_share_of_the_instances_group(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """web has 4 instances (25 %: one an hour). Alerts about each of them, all labelled
    ``asg: batch`` (a group of 20), still restart one of web's instances, not four."""
    # Instance ids are random: with 60 in batch, two of web's four come after batch's first
    # but about once in 50,000 runs (with 20: once in about 2,400).
    fleet = groups(aws, {"web": 4, "batch": 60})
    h = harness(SHARE, aws_url=aws_url, cooldown_s=0)
    records = [
        h.workflow.handle(anomaly(resource_id=i, labels={"asg": "batch"})) for i in fleet["web"]
    ]
    acted = [r for r in records if r is not None and r.status == RemediationStatus.RUNNING]
    blocked = [r for r in records if r is not None and r.status == RemediationStatus.BLOCKED]
    assert (len(acted), len(blocked)) == (1, 3)
    assert {r.blocked_by for r in blocked} == {"blast_radius"}
    assert all("of the 4 instances of Auto Scaling group web" in r.reason for r in blocked)
    assert len(sent_commands(aws)) == 1


def test_instances_of_two_groups_in_one_request_do_not_count_against_one_of_them(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    """Two of web's four instances asked for together with one of batch's, batch's first in
    order: counted against batch alone, web's share (one) would be exceeded unseen."""
    # Instance ids are random: with 60 in batch, two of web's four come after batch's first
    # but about once in 50,000 runs (with 20: once in about 2,400).
    fleet = groups(aws, {"web": 4, "batch": 60})
    first = min(fleet["batch"])
    later = [i for i in fleet["web"] if i > first][:2]
    assert len(later) == 2
    h = harness(SHARE, aws_url=aws_url, cooldown_s=0)
    with pytest.raises(RequestRefusedError) as refused:
        ask(h, "restart_service", {"instance_ids": [first, *later]}, service="app")
    assert refused.value.rule == "blast_radius"
    assert "web" in refused.value.reason and "batch" in refused.value.reason
    assert sent_commands(aws) == []


def test_a_group_tagged_like_a_denied_target_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    tagged_group(aws, "jump-hosts", {"Name": "bastion"})
    h = harness(TAGGED, aws_url=aws_url)
    event = anomaly(resource_id="jump-1", metric="latency", labels={"asg": "jump-hosts"})
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "deny_list"
    assert "tag:Name=bastion" in record.reason
    assert desired(aws, "jump-hosts") == 1


def test_a_group_whose_instances_are_denied_targets_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """The bastions are denied by their Name tag; naming their group instead (a scale-in would
    terminate one of them) meets the same deny list."""
    fleet = groups(aws, {"jump": 2})
    name_instances(aws, {i: f"bastion-{n}" for n, i in enumerate(fleet["jump"])})
    h = harness(TAGGED, aws_url=aws_url)
    event = anomaly(resource_id="jump", metric="latency", labels={"asg": "jump"})
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "deny_list" and "tag:Name=bastion-" in record.reason
    assert desired(aws, "jump") == 2


def test_a_production_critical_group_waits_for_two_people(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """Neither a label the alert leaves out nor a person's request runs a scale-out on a group
    tagged production-critical without the policy's two approvals."""
    tagged_group(aws, "payments", {"criticality": "production-critical"})
    h = harness(TAGGED, aws_url=aws_url)
    event = anomaly(resource_id="pay-1", metric="latency", labels={"asg": "payments"})
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.PENDING_APPROVAL
    assert "production-critical" in record.reason
    assert ask(h, "scale_out", {"auto_scaling_group": "payments"}, by=1) == "approval"
    assert desired(aws, "payments") == 1


RESTART = """\
version: 1
policy:
  verify: off
rules:
  - name: restart
    match: {metric: cpu_*}
    actions:
      - action: restart_service
        target: {instance_id: "{resource_id}"}
        params: {service: app, timeout_s: 60}
"""


def test_a_scale_in_waits_for_an_action_running_on_one_of_its_groups_instances(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """A scale-in terminates an instance of its group, maybe the one being restarted: while
    the restart runs, a scale-in of the group is refused on that instance's lock (a scale-out,
    which touches no running instance, is not)."""
    fleet = groups(aws, {"web": 2})
    h = harness(RESTART, aws_url=aws_url)
    busy = fleet["web"][0]
    record = h.workflow.handle(anomaly(resource_id=busy))
    assert record is not None and record.status == RemediationStatus.RUNNING
    with pytest.raises(RequestRefusedError) as refused:
        ask(h, "scale_in", {"auto_scaling_group": "web"}, by=1)
    assert refused.value.rule == "lock"
    assert f"{busy} (of asg:web)" in refused.value.reason
    assert ask(h, "scale_out", {"auto_scaling_group": "web"}, by=1) in {"run", "approval"}
    assert desired(aws, "web") == 2
