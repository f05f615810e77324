"""Changing an Auto Scaling group's desired capacity within its min and max (used by
``scale_out`` and ``scale_in``)."""

from __future__ import annotations

from services.remediator.core.actions.base import ApiOutcome, AwsCalls


async def change_desired_capacity(aws: AwsCalls, group: str, delta: int) -> ApiOutcome:
    async with aws.client("autoscaling") as client:
        reply = await aws.call(
            client, "describe_auto_scaling_groups", AutoScalingGroupNames=[group]
        )
        groups = reply.get("AutoScalingGroups", [])
        if not groups:
            return ApiOutcome(False, f"no Auto Scaling group {group!r}", "GroupNotFound")
        found = groups[0]
        low, high = int(found["MinSize"]), int(found["MaxSize"])
        current = int(found["DesiredCapacity"])
        wanted = min(high, max(low, current + delta))
        bounds = f"min {low}, max {high}"
        if wanted == current:
            edge = "maximum" if delta > 0 else "minimum"
            return ApiOutcome(
                False,
                f"{group} is already at its {edge} ({current}; {bounds}): nothing changed",
                "AtCapacityLimit",
            )
        await aws.call(
            client,
            "set_desired_capacity",
            AutoScalingGroupName=group,
            DesiredCapacity=wanted,
            HonorCooldown=False,
        )
    clipped = " (clipped to the group's bounds)" if wanted != current + delta else ""
    return ApiOutcome(True, f"{group} desired capacity {current} -> {wanted}{clipped} ({bounds})")
