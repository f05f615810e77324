"""What an action acts on, and how a rule names it from the anomaly (no I/O).

A rule's ``target`` (and any text parameter) is a template: ``{resource_id}``, ``{metric}`` and
``{label:NAME}`` (or ``{label:NAME|default}``) are replaced with the anomaly's values. Without a
target, an action acts on the anomaly's resource: by instance id when the resource id is one,
else on the instances tagged ``Name=<resource id>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# \Z, not $: "$" also matches before a final line break, and "i-...\n" would be a second
# spelling of one instance (its own lock and cooldown) wherever AWS cannot look it up.
# An EC2 instance id (8 or 17 hex digits), unanchored: matched whole (``fullmatch``).
INSTANCE_ID_PATTERN = r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?"
INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KNOWN = re.compile(r"^(resource_id|metric|label:[A-Za-z0-9_.:/\-]+(\|[^{}|]*)?)\Z")
TAG_KEY = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{1,128}\Z")
GROUP_NAME = re.compile(r"^[\w.:/+=@\-]{1,255}\Z")


class TargetError(ValueError):
    """A target template cannot be filled from this anomaly, or names nothing valid."""


def check_template(value: str) -> str:
    for name in _PLACEHOLDER.findall(value):
        if not _KNOWN.match(name):
            raise ValueError(
                f"unknown placeholder {{{name}}}: use {{resource_id}}, {{metric}} or {{label:NAME}}"
            )
    return value


def fill(template: str, resource_id: str, metric: str, labels: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "resource_id":
            return resource_id
        if name == "metric":
            return metric
        label, bar, default = name.removeprefix("label:").partition("|")
        if label in labels:
            return labels[label]
        if bar:
            return default
        raise TargetError(f"the anomaly has no label {label!r} for {template!r}")

    return _PLACEHOLDER.sub(one, template)


def fill_params(params: Any, resource_id: str, metric: str, labels: Mapping[str, str]) -> Any:
    """``params`` with every text value's placeholders filled."""
    if isinstance(params, str):
        return fill(params, resource_id, metric, labels)
    if isinstance(params, dict):
        return {k: fill_params(v, resource_id, metric, labels) for k, v in params.items()}
    if isinstance(params, list):
        return [fill_params(v, resource_id, metric, labels) for v in params]
    return params


def check_param_templates(params: Any) -> Any:
    """Checks placeholders and returns ``params`` filled with neutral values, for validation."""
    if isinstance(params, str):
        check_template(params)
        return _PLACEHOLDER.sub("x", params)
    if isinstance(params, dict):
        return {k: check_param_templates(v) for k, v in params.items()}
    if isinstance(params, list):
        return [check_param_templates(v) for v in params]
    return params


class TargetSpec(BaseModel):
    """How a rule names the target: at most one of the three fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str | None = Field(None, examples=["{resource_id}"])
    tags: dict[str, str] | None = Field(None, examples=[{"Name": "{resource_id}"}])
    auto_scaling_group: str | None = Field(None, examples=["{label:asg}"])

    @field_validator("instance_id", "auto_scaling_group")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)

    @field_validator("tags")
    @classmethod
    def _tag_templates(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if not 1 <= len(value) <= 5:
            raise ValueError("give 1 to 5 tags")
        for key, template in value.items():
            if not TAG_KEY.match(key):
                raise ValueError(f"tag key {key!r} is not valid")
            check_template(template)
        return value

    @model_validator(mode="after")
    def _at_most_one(self) -> TargetSpec:
        given = [f for f in ("instance_id", "tags", "auto_scaling_group") if getattr(self, f)]
        if len(given) > 1:
            raise ValueError(f"give one of instance_id, tags, auto_scaling_group, not {given}")
        return self

    def resolve(self, resource_id: str, metric: str, labels: Mapping[str, str]) -> Target:
        if self.auto_scaling_group:
            group = fill(self.auto_scaling_group, resource_id, metric, labels)
            return Target.for_group(group)
        if self.tags:
            tags = {k: fill(v, resource_id, metric, labels) for k, v in self.tags.items()}
            return Target.for_tags(tags)
        if self.instance_id:
            return Target.for_instances(fill(self.instance_id, resource_id, metric, labels))
        if INSTANCE_ID.fullmatch(resource_id):
            return Target.for_instances(resource_id)
        return Target.for_tags({"Name": resource_id})


TargetKind = Literal["instances", "tags", "auto_scaling_group"]


class Target(BaseModel):
    """A target. ``key`` names it in records; ``members`` are what the safety checks lock,
    cool down and count (one per instance, or the group), so that ``[i-1, i-1]``, ``[i-1]``
    and ``[i-1, i-2]`` all meet the lock of ``i-1``. Instance ids are kept sorted and unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TargetKind
    instance_ids: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    group: str = ""

    @field_validator("instance_ids", mode="after")
    @classmethod
    def _canonical_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _valid(self) -> Target:
        if self.kind == "instances":
            if not self.instance_ids or len(self.instance_ids) > 50:
                raise ValueError("give 1 to 50 instance ids")
            bad = [i for i in self.instance_ids if not INSTANCE_ID.fullmatch(i)]
            if bad:
                raise ValueError(f"not EC2 instance ids: {', '.join(bad)}")
        elif self.kind == "tags":
            if not self.tags or any(not v or len(v) > 256 for v in self.tags.values()):
                raise ValueError("tag targets need 1 to 5 tags with non-empty values")
        elif not GROUP_NAME.match(self.group):
            raise ValueError(f"{self.group!r} is not an Auto Scaling group name")
        return self

    @classmethod
    def for_instances(cls, *instance_ids: str) -> Target:
        try:
            return cls(kind="instances", instance_ids=tuple(instance_ids))
        except ValueError as exc:
            raise TargetError(str(exc)) from exc

    @classmethod
    def for_tags(cls, tags: Mapping[str, str]) -> Target:
        try:
            return cls(kind="tags", tags=dict(tags))
        except ValueError as exc:
            raise TargetError(str(exc)) from exc

    @classmethod
    def for_group(cls, name: str) -> Target:
        try:
            return cls(kind="auto_scaling_group", group=name)
        except ValueError as exc:
            raise TargetError(str(exc)) from exc

    @property
    def key(self) -> str:
        if self.kind == "instances":
            return ",".join(self.instance_ids)
        if self.kind == "tags":
            return ",".join(f"tag:{k}={v}" for k, v in sorted(self.tags.items()))
        return f"asg:{self.group}"

    @property
    def members(self) -> tuple[str, ...]:
        """What the safety checks key on: each instance, the group, or (tags AWS has not
        resolved to instances) the tag selector."""
        if self.kind == "instances":
            return self.instance_ids
        return (self.key,)

    def names(self) -> tuple[str, ...]:
        """Every name deny lists and maintenance windows match: the key, each member, each
        tag as ``tag:K=V`` and a Name tag's bare value, a group's bare name."""
        found = [self.key, *self.members]
        for tag_key, value in sorted(self.tags.items()):
            found.append(f"tag:{tag_key}={value}")
            if tag_key == "Name":
                found.append(value)
        if self.kind == "auto_scaling_group":
            found.append(self.group)
        return tuple(dict.fromkeys(found))

    def describe(self) -> str:
        if self.kind == "instances":
            return ", ".join(self.instance_ids)
        if self.kind == "tags":
            tags = ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))
            return f"instances tagged {tags}"
        return f"Auto Scaling group {self.group}"


@dataclass(frozen=True)
class ResolvedTarget:
    """A target as it is now (looked up in AWS when AWS is at hand)."""

    target: Target  # what the action acts on (tag selectors become instance ids with AWS)
    names: tuple[str, ...]  # every name deny lists, maintenance windows and critical tags see
    # An Auto Scaling group's instances as AWS listed them (acting on the group acts on them:
    # their locks are held too); empty for other targets, and without AWS.
    instances: tuple[str, ...] = ()
