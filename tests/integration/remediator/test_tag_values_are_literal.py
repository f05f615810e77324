"""A tag value that reaches an EC2 filter (it may come from an alert label) is matched as
itself: ``Name=*`` selects the instances named ``*``, not every instance."""

from __future__ import annotations

import asyncio
from typing import Any

from services.remediator.actions.registry import ActionRegistry
from services.remediator.aws.filter_values import literal
from services.remediator.aws.session import AwsApi
from services.remediator.targets import Target
from tests.integration.remediator.conftest import AMI


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _named(aws: AwsApi, name: str) -> str:
    async with aws.client("ec2") as ec2:
        reply = await ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )
    return str(reply["Instances"][0]["InstanceId"])


async def _matching(aws: AwsApi, value: str) -> int:
    async with aws.client("ec2") as ec2:
        filters = [{"Name": "tag:Name", "Values": [value]}]
        reply = await ec2.describe_instances(Filters=filters)
    return sum(len(r["Instances"]) for r in reply["Reservations"])


def test_filter_values_match_exactly_the_value(aws: AwsApi) -> None:
    run(_named(aws, "web-1"))
    run(_named(aws, "db-1"))
    assert run(_matching(aws, "*")) == 2  # what an unescaped label would select
    assert run(_matching(aws, literal("*"))) == 0
    assert run(_matching(aws, literal("web-?"))) == 0
    assert run(_matching(aws, literal("web-1"))) == 1
    assert literal("a?b\\c*") == "a\\?b\\\\c\\*"


def test_a_wildcard_tag_value_does_not_monitor_every_instance(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    run(_named(aws, "web-1"))
    run(_named(aws, "db-1"))
    definition = registry["enhance_monitoring"]
    assert definition.call_api is not None
    params = definition.parse({})
    for pattern in ("*", "web-?", "*-1"):
        outcome = run(definition.call_api(aws, params, Target.for_tags({"Name": pattern})))
        assert (outcome.succeeded, outcome.error_code) == (False, "NoTargets"), pattern
        assert outcome.summary == f"no running instance is instances tagged Name={pattern}"
