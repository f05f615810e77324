"""Turning a target as asked into the thing it is, before any safety check.

A target can be spelled many ways: one instance by id, twice in a list, by its ``Name`` tag, or
inside a larger set. Safety (locks, cooldowns, blast radius, deny lists, maintenance windows,
production-critical tags) must see the same instance whatever the spelling, and must never
depend on a name the caller chose. So with AWS at hand a target is resolved first:

- instance ids are looked up (``DescribeInstances``): unknown or terminated ones are refused,
  and so are instances not opted in to remediation in this environment (the opt-in tag,
  ``SmartCloudOpsRemediation=<env>``, absent or naming another environment); each instance's
  tags become names the checks match (``tag:Name=web-1``, ``web-1``, ``asg:<its group>``);
- a tag selector becomes the sorted ids of the opted-in instances carrying the tags now, and the
  action is sent to exactly those (what was checked is what runs);
- an Auto Scaling group is looked up (``DescribeAutoScalingGroups``): it is then named as AWS
  names it, and its own tags, and the ids and tags of its instances (acting on a group acts on
  them: a scale-in terminates one), become names the checks match; so a group tagged
  production-critical, or holding a denied instance, is treated as such whatever the alert
  says. A group not opted in, or one AWS does not know, is refused.

So a target the remediator's IAM role may not change is refused before any safety check: it
takes no slot of the rate limit, starts no cooldown, and cannot fail (a failure counts towards
the circuit breaker, so alerts naming such targets could otherwise stop automatic actions).

Instances are looked up in the AWS account and region the request acts in (an assumed role
for another account, see :mod:`.aws.session`).

Without AWS (dry-run and local executors) nothing can be looked up: the target is used as given
and its own names (ids, tags, group) are matched. When AWS cannot answer, the target is refused
rather than acted on blind. With no opt-in tag configured (``SCOPS_REMEDIATION_OPT_IN_TAG``
empty) every instance and group AWS knows may be a target, and a group AWS does not know is left
as given (the action itself finds no group and fails).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi
from services.remediator.core.accounts import HOME, AwsPlace
from services.remediator.core.filter_values import literal
from services.remediator.core.targets import ResolvedTarget, Target, TargetError

LIVE_STATES = ("pending", "running", "stopping", "stopped")
MAX_INSTANCES = 50
GROUP_TAG = "aws:autoscaling:groupName"


@dataclass(frozen=True)
class _Instance:
    instance_id: str
    state: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class OptIn:
    """The tag that opts a resource in to remediation in this environment."""

    key: str
    value: str

    def carried_by(self, tags: Mapping[str, str]) -> bool:
        return tags.get(self.key) == self.value

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class TargetResolver:
    def __init__(self, aws: AwsApi | None, opt_in: OptIn | None = None) -> None:
        self.aws = aws
        self.opt_in = opt_in

    def resolve(self, target: Target, place: AwsPlace = HOME) -> ResolvedTarget:
        """Raises TargetError when the target names nothing that can be acted on in
        ``place``."""
        if self.aws is None:
            return ResolvedTarget(target, target.names())
        try:
            aws = self.aws.for_account(place.account, place.region)
            if target.kind == "auto_scaling_group":
                return asyncio.run(_group(aws, target, self.opt_in))
            if target.kind == "instances":
                found = asyncio.run(_by_ids(aws, target.instance_ids))
                _refuse_missing(target.instance_ids, found)
                _refuse_not_opted_in(found, self.opt_in)
            else:
                found = asyncio.run(_by_tags(aws, target.tags))
                if self.opt_in is not None:
                    found = [i for i in found if self.opt_in.carried_by(i.tags)]
                if not found:
                    opted = f" opted in ({self.opt_in})" if self.opt_in else ""
                    raise TargetError(f"no running or stopped {target.describe()}{opted}")
        except AwsCallError as exc:
            raise TargetError(
                f"cannot look up {target.describe()} in AWS ({exc.code}): refused rather than "
                "act on a target whose tags are unknown"
            ) from exc
        if len(found) > MAX_INSTANCES:
            raise TargetError(
                f"{target.describe()} is {len(found)} instances; at most {MAX_INSTANCES} at once"
            )
        resolved = Target.for_instances(*(i.instance_id for i in found))
        return ResolvedTarget(resolved, _names(target, resolved, found))


async def _group(aws: AwsApi, target: Target, opt_in: OptIn | None) -> ResolvedTarget:
    async with aws.client("autoscaling") as client:
        reply = await aws.call(
            client, "describe_auto_scaling_groups", AutoScalingGroupNames=[target.group]
        )
    found = reply.get("AutoScalingGroups", [])
    if not found:
        if opt_in is not None:
            raise TargetError(f"no {target.describe()} in AWS (names are exact: case counts)")
        return ResolvedTarget(target, target.names())
    resolved = Target.for_group(str(found[0]["AutoScalingGroupName"]))
    group_tags = {str(t.get("Key", "")): str(t.get("Value", "")) for t in found[0].get("Tags", [])}
    if opt_in is not None and not opt_in.carried_by(group_tags):
        raise TargetError(
            f"{resolved.describe()} is not tagged {opt_in}: not opted in to remediation here"
        )
    members = await _by_tags(aws, {GROUP_TAG: resolved.group})
    names = [*target.names(), *resolved.names(), *_tag_names(group_tags)]
    for instance in members:
        names += [instance.instance_id, *_tag_names(instance.tags)]
    instances = tuple(sorted({instance.instance_id for instance in members}))
    return ResolvedTarget(resolved, tuple(dict.fromkeys(names)), instances)


async def _by_ids(aws: AwsApi, instance_ids: Iterable[str]) -> list[_Instance]:
    async with aws.client("ec2") as ec2:
        try:
            reply = await aws.call(ec2, "describe_instances", InstanceIds=list(instance_ids))
        except AwsCallError as exc:
            if exc.code.startswith("InvalidInstanceID"):
                raise TargetError(f"no such instance: {exc.message}") from exc
            raise
    return _instances([reply])


async def _by_tags(aws: AwsApi, tags: Mapping[str, str]) -> list[_Instance]:
    # Values come from labels: matched literally, so "*" is that character, not "any".
    filters = [{"Name": f"tag:{k}", "Values": [literal(v)]} for k, v in sorted(tags.items())]
    filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})
    pages: list[dict[str, Any]] = []
    async with aws.client("ec2") as ec2:
        token: str | None = None
        for _ in range(10):
            extra: dict[str, Any] = {"NextToken": token} if token else {}
            page = await aws.call(ec2, "describe_instances", Filters=filters, **extra)
            pages.append(page)
            token = page.get("NextToken")
            if not token:
                break
    return _instances(pages)


def _instances(pages: list[dict[str, Any]]) -> list[_Instance]:
    found: dict[str, _Instance] = {}
    for page in pages:
        for reservation in page.get("Reservations", []):
            for item in reservation.get("Instances", []):
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", []) if "Key" in t}
                state = str(item.get("State", {}).get("Name", ""))
                found[item["InstanceId"]] = _Instance(item["InstanceId"], state, tags)
    return [found[i] for i in sorted(found)]


def _refuse_missing(asked: Iterable[str], found: list[_Instance]) -> None:
    live = {i.instance_id for i in found if i.state in LIVE_STATES}
    missing = [i for i in asked if i not in live]
    if missing:
        raise TargetError(f"no running or stopped instance {', '.join(missing)}")


def _refuse_not_opted_in(found: list[_Instance], opt_in: OptIn | None) -> None:
    if opt_in is None:
        return
    outside = [i.instance_id for i in found if not opt_in.carried_by(i.tags)]
    if outside:
        raise TargetError(
            f"{', '.join(outside)} not tagged {opt_in}: not opted in to remediation here"
        )


def _names(asked: Target, resolved: Target, found: list[_Instance]) -> tuple[str, ...]:
    names = [*asked.names(), *resolved.names()]
    for instance in found:
        names += _tag_names(instance.tags)
    return tuple(dict.fromkeys(names))


def _tag_names(tags: Mapping[str, str]) -> list[str]:
    """``tag:K=V`` for each tag, a Name tag's bare value, ``asg:G`` and ``G`` for the group."""
    names = []
    for key, value in sorted(tags.items()):
        names.append(f"tag:{key}={value}")
        if key == "Name":
            names.append(value)
        if key == GROUP_TAG:
            names += [f"asg:{value}", value]
    return names
