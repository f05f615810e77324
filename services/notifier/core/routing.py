"""Routing rules: which receivers hear about what, grouped how, on which timing (no I/O).

Routes are tried in order; the first that matches decides, unless it says ``continue`` (then
later routes may add receivers), as in Alertmanager. What no route matches goes to the default
receiver. A route with no receivers drops what it matches (e.g. low severities).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.notifier.core.alerts import MessageKind, Timing, group_id
from shared.events import Severity

GroupLabel = Literal["resource_id", "metric", "severity"]


class Subject(BaseModel):
    """What a message is about, as routes and silences see it."""

    model_config = ConfigDict(frozen=True)

    kind: MessageKind
    severity: Severity
    resource_id: str
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)

    def label(self, name: GroupLabel) -> str:
        value: str = getattr(self, name)
        return str(value)


class Match(BaseModel):
    """Every condition given must hold; an empty match matches everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: list[MessageKind] | None = None
    severities: list[Severity] | None = None
    min_severity: Severity | None = None
    resource: str = Field("*", description="Glob on the resource id.")
    metric: str = Field("*", description="Glob on the metric name.")
    labels: dict[str, str] = Field(default_factory=dict, description="Label name: glob.")

    def matches(self, subject: Subject) -> bool:
        if self.kinds is not None and subject.kind not in self.kinds:
            return False
        if self.severities is not None and subject.severity not in self.severities:
            return False
        if self.min_severity is not None and subject.severity.rank < self.min_severity.rank:
            return False
        if not fnmatchcase(subject.resource_id, self.resource):
            return False
        if not fnmatchcase(subject.metric, self.metric):
            return False
        return all(
            fnmatchcase(subject.labels.get(name, ""), pattern)
            for name, pattern in self.labels.items()
        )


class Route(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    match: Match = Field(default_factory=Match)
    receivers: list[str]
    continue_: bool = Field(False, alias="continue")
    group_by: list[GroupLabel] | None = None
    group_wait_s: float | None = Field(None, ge=0)
    group_interval_s: float | None = Field(None, ge=0)
    repeat_interval_s: float | None = Field(None, gt=0)


@dataclass(frozen=True)
class Target:
    """One receiver's view of a subject: where it goes and with which group."""

    receiver: str
    group_id: str
    group_labels: dict[str, str]
    timing: Timing


class Router:
    def __init__(
        self,
        routes: list[Route],
        *,
        default_receiver: str,
        group_by: list[GroupLabel],
        timing: Timing,
    ) -> None:
        self.routes = routes
        self.default_receiver = default_receiver
        self.group_by = group_by
        self.timing = timing

    def targets(self, subject: Subject) -> list[Target]:
        chosen: list[tuple[str, Route | None]] = []
        matched = False
        for route in self.routes:
            if not route.match.matches(subject):
                continue
            matched = True
            chosen += [(r, route) for r in route.receivers]
            if not route.continue_:
                break
        if not matched:
            chosen = [(self.default_receiver, None)]
        seen: set[str] = set()
        targets = []
        for receiver, from_route in chosen:
            if receiver in seen:
                continue
            seen.add(receiver)
            targets.append(self._target(receiver, from_route, subject))
        return targets

    def _target(self, receiver: str, route: Route | None, subject: Subject) -> Target:
        group_by = self.group_by
        wait, interval, repeat = None, None, None
        if route is not None:
            group_by = route.group_by if route.group_by is not None else group_by
            wait, interval, repeat = (
                route.group_wait_s,
                route.group_interval_s,
                route.repeat_interval_s,
            )
        labels: dict[str, str] = {name: subject.label(name) for name in group_by}
        timing = Timing(
            group_wait_s=_pick(wait, self.timing.group_wait_s),
            group_interval_s=_pick(interval, self.timing.group_interval_s),
            repeat_interval_s=_pick(repeat, self.timing.repeat_interval_s),
        )
        return Target(receiver, group_id(receiver, labels), labels, timing)


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value
