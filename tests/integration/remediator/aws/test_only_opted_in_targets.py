"""Only what is opted in to remediation in this environment (``SmartCloudOpsRemediation=<env>``,
the tag the IAM policies require) is ever a target. Alerts an ingest key forges for an instance
of another environment, an untagged one, or a group AWS does not know are refused before any
safety check: nothing is sent, no slot of the rate limit is taken, no cooldown starts, and
nothing fails (failures would open the circuit breaker and stop every automatic action). EC2,
SSM and Auto Scaling: moto's server."""

from __future__ import annotations

import asyncio

from services.remediator.aws.session import AwsApi
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

RESTART = """\
version: 1
policy: {verify: off}
rules:
  - name: restart
    match: {metric: latency}
    actions: [{action: restart_service, params: {service: app}}]
"""

SCALE = """\
version: 1
policy: {verify: off}
rules:
  - name: scale
    match: {metric: latency}
    actions: [{action: scale_out, target: {auto_scaling_group: "{label:asg}"}}]
"""


def test_alerts_naming_instances_not_opted_in_here_take_nothing_from_the_limits(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (untagged,) = instances(aws, opted_in=False)
    (prod,) = instances(aws, tags={"SmartCloudOpsRemediation": "prod"})
    (ours,) = instances(aws)
    h = harness(RESTART, aws_url=aws_url, rate_limit_per_hour=1, breaker_failures=1)
    for outsider in (untagged, prod):
        record = h.workflow.handle(anomaly(resource_id=outsider, metric="latency"))
        assert record is not None and record.status == RemediationStatus.BLOCKED
        assert record.blocked_by == "no_target"
        assert f"{outsider} not tagged SmartCloudOpsRemediation=test" in record.reason
    assert sent_commands(aws) == []
    # The one slot of the rate limit and the breaker are untouched: ours still runs.
    record = h.workflow.handle(anomaly(resource_id=ours, metric="latency"))
    assert record is not None and record.status == RemediationStatus.RUNNING
    assert record.target == ours
    assert len(sent_commands(aws)) == 1


def test_a_tag_target_acts_only_on_the_instances_opted_in_here(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (ours,) = instances(aws, tags={"Name": "web"})
    instances(aws, tags={"Name": "web", "SmartCloudOpsRemediation": "prod"})
    instances(aws, tags={"Name": "web"}, opted_in=False)
    h = harness(RESTART, aws_url=aws_url)
    record = h.workflow.handle(anomaly(resource_id="web", metric="latency"))
    assert record is not None and record.status == RemediationStatus.RUNNING
    assert record.target == ours  # sent by this id, not by tag
    (command,) = sent_commands(aws)
    assert not command.get("Targets")


def test_a_group_not_opted_in_or_unknown_is_refused_and_fails_nothing(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    async def untagged_group() -> None:
        async with aws.client("autoscaling") as asg:
            await asg.create_launch_configuration(
                LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
            )
            await asg.create_auto_scaling_group(
                AutoScalingGroupName="theirs",
                LaunchConfigurationName="lc",
                MinSize=0,
                MaxSize=3,
                DesiredCapacity=1,
                AvailabilityZones=["us-east-1a"],
            )

    asyncio.run(untagged_group())
    h = harness(SCALE, aws_url=aws_url, breaker_failures=1, cooldown_s=0)
    for n, group in enumerate(["theirs", "nonexistent", "THEIRS"]):
        event = anomaly(resource_id=f"api-{n}", metric="latency", labels={"asg": group})
        record = h.workflow.handle(event)
        assert record is not None and record.status == RemediationStatus.BLOCKED, group
        assert record.blocked_by == "no_target", group
    assert "not tagged SmartCloudOpsRemediation=test" in str(h.records()[0].reason)
    assert not h.remediator.safety.reset_breaker()  # never opened
