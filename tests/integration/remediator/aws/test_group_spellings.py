"""An Auto Scaling group cannot be scaled past its deny-list entry or its cooldown by spelling it
another way (its ARN, another case): the target and the action look the group up by the same
spelling, so one AWS names is checked under its name, and one AWS does not know is refused
before anything is reserved or sent. EC2 and Auto Scaling: moto's server."""

from __future__ import annotations

import asyncio
from typing import Any

from services.remediator.aws.session import AwsApi
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import RequestRefusedError
from services.remediator.handling.manual import ManualRequest, prepare
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import groups

RULES = """\
version: 1
policy: {verify: off, deny_targets: ["asg:DENIED"]}
rules: []
"""


def arn_of(aws: AwsApi, name: str) -> str:
    async def run() -> str:
        async with aws.client("autoscaling") as asg:
            reply = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return str(reply["AutoScalingGroups"][0]["AutoScalingGroupARN"])

    return asyncio.run(run())


def desired(aws: AwsApi, name: str) -> int:
    async def run() -> int:
        async with aws.client("autoscaling") as asg:
            reply = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return int(reply["AutoScalingGroups"][0]["DesiredCapacity"])

    return asyncio.run(run())


def ask(h: Harness, group: str) -> ActionRequest:
    body: dict[str, Any] = {
        "action": "scale_out",
        "target": {"auto_scaling_group": group},
        "params": {"by": 1},
        "reason": "r",
        "by": "ana",
    }
    return prepare(
        h.workflow, ManualRequest.model_validate(body), "cid", requested_by="ana"
    ).request


def outcome(h: Harness, group: str) -> str:
    """What became of a request to scale ``group`` out: the check that refused it at once,
    else the status it ended with."""
    try:
        request = ask(h, group)
    except RequestRefusedError as exc:
        return f"refused:{exc.rule}"
    record = h.workflow.execute_request(request)
    assert record is not None
    return f"{record.status.value}:{record.blocked_by or record.error_code or ''}"


def test_a_denied_group_spelled_as_its_arn_is_never_scaled(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    groups(aws, {"pay": 1})
    h = harness(RULES.replace("DENIED", "pay"), aws_url=aws_url)
    assert outcome(h, "pay") == "refused:deny_list"
    # AWS does not know the group by its ARN: refused, nothing changes.
    assert outcome(h, arn_of(aws, "pay")) == "refused:no_target"
    assert outcome(h, "PAY") == "refused:no_target"
    assert desired(aws, "pay") == 1


def test_a_group_scaled_by_name_is_not_scaled_again_within_its_cooldown_by_another_spelling(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    groups(aws, {"web": 1})
    h = harness(RULES, aws_url=aws_url)
    assert outcome(h, "web") == "succeeded:"
    assert outcome(h, arn_of(aws, "web")) == "refused:no_target"
    assert outcome(h, "Web") == "refused:no_target"
    assert outcome(h, "web") == "refused:cooldown"
    assert desired(aws, "web") == 2
