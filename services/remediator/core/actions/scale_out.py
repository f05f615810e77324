"""Add instances to an Auto Scaling group (SetDesiredCapacity), never above the group's max.

Reads the group's min, max and desired capacity first; a group already at its maximum is left
alone and the record says so (error code ``AtCapacityLimit``). Target: an Auto Scaling group.
Risk: medium.
"""

from __future__ import annotations

from pydantic import Field

from services.remediator.core.actions.base import (
    ActionDefinition,
    ActionParams,
    ApiOutcome,
    AwsCalls,
)
from services.remediator.core.actions.capacity import change_desired_capacity
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target


class ScaleOutParams(ActionParams):
    by: int = Field(1, ge=1, le=20, description="Instances to add.")


async def call_api(aws: AwsCalls, params: ScaleOutParams, target: Target) -> ApiOutcome:
    return await change_desired_capacity(aws, target.group, params.by)


def describe(params: ScaleOutParams, target: Target) -> str:
    return f"add {params.by} instance(s) to {target.describe()} (up to its max)"


ACTION = ActionDefinition(
    name="scale_out",
    doc=__doc__ or "",
    params_model=ScaleOutParams,
    risk=Risk.MEDIUM,
    targets=frozenset({"auto_scaling_group"}),
    describe=describe,
    call_api=call_api,
)
