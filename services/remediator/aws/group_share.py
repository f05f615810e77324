"""Blast radius as a share of an Auto Scaling group: how many of a group's instances one action
may touch within the window (``max_percent`` of the group's size, at least one).

The group is the one AWS says the target's instances belong to (``DescribeAutoScalingInstances``),
whatever an alert's label says: a label naming a larger group must not widen the share of the
instances' own. Instances of several groups in one request are refused (the share of each is
counted on its own). Only for instances in no group does the rule's ``blast_radius.group``
(default ``{label:asg}``) name one, which can only add a limit. Its size (the larger of its
instance count and desired capacity) comes from ``DescribeAutoScalingGroups``, cached for
``SCOPS_GROUP_SIZE_CACHE_S``. The count itself is checked and taken in the safety step's atomic
Lua script, with the other checks. Without AWS (dry-run executor) there is no group to measure
and the percentage does not apply; when AWS cannot answer, the action is refused rather than
risk more than the share. Groups are looked up in the request's AWS account and region (two
accounts may each have a group called ``web``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi
from services.remediator.core.accounts import HOME, AwsPlace
from services.remediator.core.action_requests import ActionRequest


@dataclass(frozen=True)
class GroupShare:
    group: str
    size: int
    percent: float
    members: tuple[str, ...]  # what the action counts against the group: instance ids

    @property
    def max_instances(self) -> int:
        return max(1, math.floor(self.size * self.percent / 100 + 1e-9))


@dataclass(frozen=True)
class GroupShareRefusal:
    detail: str


class GroupSizes:
    """Group sizes and the group of an instance, from AWS, cached briefly per process."""

    def __init__(
        self,
        aws: AwsApi | None,
        *,
        cache_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aws = aws
        self.cache_s = cache_s
        self.clock = clock
        self._sizes: dict[tuple[AwsPlace, str], tuple[float, int | None]] = {}
        self._groups: dict[tuple[AwsPlace, str], tuple[float, str | None]] = {}

    @property
    def available(self) -> bool:
        return self.aws is not None

    def size(self, group: str, place: AwsPlace = HOME) -> int | None:
        """The group's size; None when there is no such group. Raises AwsCallError."""
        cached = self._sizes.get((place, group))
        if cached is not None and self.clock() - cached[0] < self.cache_s:
            return cached[1]
        size = asyncio.run(self._describe(group, place))
        self._sizes[(place, group)] = (self.clock(), size)
        return size

    def groups_of(
        self, instance_ids: Sequence[str], place: AwsPlace = HOME
    ) -> dict[str, str | None]:
        """The Auto Scaling group each instance belongs to (None: none), asked in one call for
        those not cached. Raises AwsCallError."""
        now = self.clock()
        found: dict[str, str | None] = {}
        for instance_id in instance_ids:
            cached = self._groups.get((place, instance_id))
            if cached is not None and now - cached[0] < self.cache_s:
                found[instance_id] = cached[1]
        missing = [i for i in instance_ids if i not in found]
        if missing:
            asked = asyncio.run(self._groups_of(missing, place))
            for instance_id in missing:
                found[instance_id] = asked.get(instance_id)
                self._groups[(place, instance_id)] = (self.clock(), found[instance_id])
        return found

    async def _describe(self, group: str, place: AwsPlace) -> int | None:
        assert self.aws is not None
        aws = self.aws.for_account(place.account, place.region)
        async with aws.client("autoscaling") as client:
            reply = await aws.call(
                client, "describe_auto_scaling_groups", AutoScalingGroupNames=[group]
            )
        found = reply.get("AutoScalingGroups", [])
        if not found:
            return None
        return max(len(found[0].get("Instances", [])), int(found[0].get("DesiredCapacity", 0)))

    async def _groups_of(self, instance_ids: list[str], place: AwsPlace) -> dict[str, str]:
        assert self.aws is not None
        aws = self.aws.for_account(place.account, place.region)
        async with aws.client("autoscaling") as client:
            reply = await aws.call(
                client, "describe_auto_scaling_instances", InstanceIds=instance_ids
            )
        return {
            str(i["InstanceId"]): str(i["AutoScalingGroupName"])
            for i in reply.get("AutoScalingInstances", [])
        }


def group_share(request: ActionRequest, sizes: GroupSizes) -> GroupShare | GroupShareRefusal | None:
    """What the percentage blast radius allows for this request (None: it does not apply)."""
    target = request.target
    if request.blast_percent <= 0 or target.kind == "auto_scaling_group" or not sizes.available:
        return None
    members = target.instance_ids if target.kind == "instances" else (target.key,)
    group = request.blast_group
    try:
        if target.kind == "instances":
            # AWS's word, not the label's: a label naming a larger group would widen the share.
            of = sizes.groups_of(target.instance_ids, request.place)
            found = sorted({g for g in of.values() if g is not None})
            if len(found) > 1:
                return GroupShareRefusal(
                    f"the target's instances belong to {len(found)} Auto Scaling groups "
                    f"({', '.join(found)}): the {request.blast_percent:g}% share of each is "
                    "counted on its own, so ask for one group's instances at a time"
                )
            if found:
                group = found[0]
                members = tuple(i for i in target.instance_ids if of[i] == group)
        if group is None:
            return None  # not part of a group: the share does not apply
        size = sizes.size(group, request.place)
    except AwsCallError as exc:
        return GroupShareRefusal(
            f"cannot read the size of Auto Scaling group {group or '(unknown)'} ({exc.code}): "
            f"refused rather than risk more than {request.blast_percent:g}% of it"
        )
    if size is None:
        return GroupShareRefusal(
            f"no Auto Scaling group {group!r} to measure the {request.blast_percent:g}% "
            "blast radius against"
        )
    return GroupShare(group, size, request.blast_percent, tuple(members))
