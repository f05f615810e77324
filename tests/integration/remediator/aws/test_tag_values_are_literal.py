"""A tag value that reaches an EC2 filter (it may come from an alert label) is matched as
itself: ``Name=*`` selects the instances named ``*``, not every instance."""

from __future__ import annotations

import asyncio
from typing import Any

from services.remediator.aws.session import AwsApi
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.filter_values import literal
from services.remediator.core.targets import Target
from tests.support.aws_fleet import instances


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _matching(aws: AwsApi, value: str) -> int:
    async with aws.client("ec2") as ec2:
        filters = [{"Name": "tag:Name", "Values": [value]}]
        reply = await ec2.describe_instances(Filters=filters)
    return sum(len(r["Instances"]) for r in reply["Reservations"])


def test_filter_values_match_exactly_the_value(aws: AwsApi) -> None:
    instances(aws, tags={"Name": "web-1"})
    instances(aws, tags={"Name": "db-1"})
    assert run(_matching(aws, "*")) == 2  # what an unescaped label would select
    assert run(_matching(aws, literal("*"))) == 0
    assert run(_matching(aws, literal("web-?"))) == 0
    assert run(_matching(aws, literal("web-1"))) == 1
    assert literal("a?b\\c*") == "a\\?b\\\\c\\*"


def test_a_wildcard_tag_value_does_not_monitor_every_instance(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    instances(aws, tags={"Name": "web-1"})
    instances(aws, tags={"Name": "db-1"})
    definition = registry["enhance_monitoring"]
    assert definition.call_api is not None
    params = definition.parse({})
    for pattern in ("*", "web-?", "*-1"):
        outcome = run(definition.call_api(aws, params, Target.for_tags({"Name": pattern})))
        assert (outcome.succeeded, outcome.error_code) == (False, "NoTargets"), pattern
        assert outcome.summary == f"no running instance is instances tagged Name={pattern}"
