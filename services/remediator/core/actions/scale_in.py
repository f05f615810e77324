"""Remove instances from an Auto Scaling group (SetDesiredCapacity), never below its min.

Removing capacity under load can make things worse, so this action is high risk: by default it
waits for a human's approval. Target: an Auto Scaling group.
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


class ScaleInParams(ActionParams):
    by: int = Field(1, ge=1, le=20, description="Instances to remove.")


async def call_api(aws: AwsCalls, params: ScaleInParams, target: Target) -> ApiOutcome:
    return await change_desired_capacity(aws, target.group, -params.by)


def describe(params: ScaleInParams, target: Target) -> str:
    return f"remove {params.by} instance(s) from {target.describe()} (down to its min)"


ACTION = ActionDefinition(
    name="scale_in",
    doc=__doc__ or "",
    params_model=ScaleInParams,
    risk=Risk.HIGH,
    targets=frozenset({"auto_scaling_group"}),
    describe=describe,
    call_api=call_api,
    holds_group_instances=True,
)
