"""Switch on EC2 detailed monitoring (1-minute CloudWatch metrics) for the target instances.

Tag targets are resolved to the running instances carrying exactly those tag values (a ``*`` or
``?`` in a value is that character, never a wildcard). Costs a little money per
instance, changes nothing on the instance itself (so its effect is not verified). Risk: low.
"""

from __future__ import annotations

from services.remediator.core.actions.base import (
    ActionDefinition,
    ActionParams,
    ApiOutcome,
    AwsCalls,
)
from services.remediator.core.filter_values import literal
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target


class EnhanceMonitoringParams(ActionParams):
    pass


async def call_api(aws: AwsCalls, params: EnhanceMonitoringParams, target: Target) -> ApiOutcome:
    async with aws.client("ec2") as ec2:
        instance_ids = list(target.instance_ids)
        if target.kind == "tags":
            filters = [{"Name": f"tag:{k}", "Values": [literal(v)]} for k, v in target.tags.items()]
            filters.append({"Name": "instance-state-name", "Values": ["pending", "running"]})
            reply = await aws.call(ec2, "describe_instances", Filters=filters)
            instance_ids = [
                i["InstanceId"] for r in reply.get("Reservations", []) for i in r["Instances"]
            ]
        if not instance_ids:
            return ApiOutcome(False, f"no running instance is {target.describe()}", "NoTargets")
        reply = await aws.call(ec2, "monitor_instances", InstanceIds=instance_ids)
    states = [
        f"{m['InstanceId']}: {m.get('Monitoring', {}).get('State', '?')}"
        for m in reply.get("InstanceMonitorings", [])
    ]
    return ApiOutcome(True, "detailed monitoring " + ", ".join(states), output="\n".join(states))


def describe(params: EnhanceMonitoringParams, target: Target) -> str:
    return f"switch on detailed monitoring for {target.describe()}"


ACTION = ActionDefinition(
    name="enhance_monitoring",
    doc=__doc__ or "",
    params_model=EnhanceMonitoringParams,
    risk=Risk.LOW,
    targets=frozenset({"instances", "tags"}),
    describe=describe,
    call_api=call_api,
    verifiable=False,
)
