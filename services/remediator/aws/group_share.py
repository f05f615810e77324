"""Blast radius as a share of an Auto Scaling group: how many of a group's instances one action
may touch within the window (``max_percent`` of the group's size, at least one).

The group is the rule's ``blast_radius.group`` (default ``{label:asg}``) or, when that cannot be
filled, the group AWS says the target's instances belong to. Its size (the larger of its
instance count and desired capacity) comes from ``DescribeAutoScalingGroups``, cached for
``SCOPS_GROUP_SIZE_CACHE_S``. The count itself is checked and taken in the safety step's
atomic Lua script, with the other checks. Without AWS (dry-run executor) there is no group to
measure and the percentage does not apply; when AWS cannot answer, the action is refused
rather than risk more than the share. Groups are looked up in the request's AWS account and
region (two accounts may each have a group called ``web``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
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

    def group_of(self, instance_id: str, place: AwsPlace = HOME) -> str | None:
        """The Auto Scaling group the instance belongs to, if any. Raises AwsCallError."""
        cached = self._groups.get((place, instance_id))
        if cached is not None and self.clock() - cached[0] < self.cache_s:
            return cached[1]
        group = asyncio.run(self._group_of(instance_id, place))
        self._groups[(place, instance_id)] = (self.clock(), group)
        return group

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

    async def _group_of(self, instance_id: str, place: AwsPlace) -> str | None:
        assert self.aws is not None
        aws = self.aws.for_account(place.account, place.region)
        async with aws.client("autoscaling") as client:
            reply = await aws.call(
                client, "describe_auto_scaling_instances", InstanceIds=[instance_id]
            )
        found = reply.get("AutoScalingInstances", [])
        return str(found[0]["AutoScalingGroupName"]) if found else None


def group_share(request: ActionRequest, sizes: GroupSizes) -> GroupShare | GroupShareRefusal | None:
    """What the percentage blast radius allows for this request (None: it does not apply)."""
    target = request.target
    if request.blast_percent <= 0 or target.kind == "auto_scaling_group" or not sizes.available:
        return None
    members = target.instance_ids if target.kind == "instances" else (target.key,)
    group = request.blast_group
    try:
        if group is None and target.kind == "instances":
            group = sizes.group_of(target.instance_ids[0], request.place)
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
