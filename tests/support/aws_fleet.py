"""Instances, Auto Scaling groups and Run Command history on the local AWS API (moto's server),
through the real aioboto3 client: what remediator tests act on and what they check was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from services.remediator.aws.session import AwsApi

AMI = "ami-12c6146b"  # one of moto's built-in images
# The tag that opts a resource in to remediation, as the tests' remediators (SCOPS_ENV=test)
# and the IAM policies read it.
OPT_IN = {"SmartCloudOpsRemediation": "test"}


def instances(
    aws: AwsApi, count: int = 1, tags: Mapping[str, str] | None = None, *, opted_in: bool = True
) -> list[str]:
    """``count`` running instances carrying ``tags`` (and, unless ``opted_in`` is False, the
    opt-in tag); their ids."""

    async def run() -> list[str]:
        extra: dict[str, Any] = {}
        carried = {**(OPT_IN if opted_in else {}), **(tags or {})}
        if carried:
            pairs = [{"Key": k, "Value": v} for k, v in carried.items()]
            extra["TagSpecifications"] = [{"ResourceType": "instance", "Tags": pairs}]
        async with aws.client("ec2") as ec2:
            reply = await ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, **extra)
        return [i["InstanceId"] for i in reply["Instances"]]

    return asyncio.run(run())


def sent_commands(aws: AwsApi) -> list[dict[str, Any]]:
    """Every SSM command sent so far."""

    async def run() -> list[dict[str, Any]]:
        async with aws.client("ssm") as ssm:
            return list((await ssm.list_commands())["Commands"])

    return asyncio.run(run())


def group_tags(name: str, tags: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """A group's ``Tags``: the opt-in tag, which its instances get too, and ``tags``, which
    only the group carries."""
    carried = [(key, value, True) for key, value in OPT_IN.items()]
    carried += [(key, value, False) for key, value in (tags or {}).items()]
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": propagate,
        }
        for key, value, propagate in carried
    ]


def groups(aws: AwsApi, sizes: dict[str, int], *, headroom: int = 2) -> dict[str, list[str]]:
    """An opted-in Auto Scaling group per name, of the given size and room for ``headroom``
    more; each group's instance ids."""

    async def run() -> dict[str, list[str]]:
        async with aws.client("autoscaling") as asg:
            await asg.create_launch_configuration(
                LaunchConfigurationName="lc", ImageId=AMI, InstanceType="t3.micro"
            )
            for name, size in sizes.items():
                await asg.create_auto_scaling_group(
                    AutoScalingGroupName=name,
                    LaunchConfigurationName="lc",
                    MinSize=0,
                    MaxSize=size + headroom,
                    DesiredCapacity=size,
                    AvailabilityZones=["us-east-1a"],
                    Tags=group_tags(name),
                )
            reply = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=list(sizes))
        return {
            g["AutoScalingGroupName"]: [i["InstanceId"] for i in g["Instances"]]
            for g in reply["AutoScalingGroups"]
        }

    return asyncio.run(run())
