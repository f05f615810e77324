"""The rules file's schema (docs/remediation.md explains every field).

Rules are tried in file order: the first live rule that matches acts. Shadow rules that match
are recorded beside it ("would have run X on Y") and never act, nor stop a live rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.remediator.core.durations import Duration
from services.remediator.core.risk import Risk
from services.remediator.core.targets import TargetSpec, check_template
from services.remediator.core.verify import Verify
from shared.events import Severity

RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ActionStep(_Strict):
    action: str = Field(description="A registered action name, e.g. restart_service.")
    params: dict[str, Any] = Field(default_factory=dict, description="The action's parameters.")
    target: TargetSpec = Field(default_factory=TargetSpec)


class Match(_Strict):
    metric: list[str] = Field(description="Glob patterns of metric names.")
    severity_at_least: Severity = Severity.HIGH
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    resources: list[str] = Field(default_factory=lambda: ["*"], description="Resource globs.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels the anomaly must have (values are globs)."
    )
    also_anomalous: list[str] = Field(
        default_factory=list,
        description="Metric globs of which one must also be anomalous on the resource now.",
    )

    @field_validator("metric", "resources", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("metric")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one metric pattern")
        return value

    def metric_matches(self, metric: str) -> bool:
        return any(fnmatchcase(metric, p) for p in self.metric)

    def resource_matches(self, resource_id: str) -> bool:
        return any(fnmatchcase(resource_id, p) for p in self.resources)

    def missing_labels(self, labels: Mapping[str, str]) -> list[str]:
        return [
            f"{k}={pattern}"
            for k, pattern in self.labels.items()
            if not fnmatchcase(labels.get(k, ""), pattern) or k not in labels
        ]


# A rules file that says nothing of the blast radius still has one: no action reaches more than
# this many targets an hour unless the file says otherwise (``blast_radius: off`` for none).
DEFAULT_BLAST_TARGETS = 5


class BlastRadius(_Strict):
    max_targets: int | None = Field(
        None, ge=1, description="Most distinct targets per action in the window."
    )
    max_percent: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Most instances of one Auto Scaling group per action in the window, in "
        "percent of the group's size (at least one).",
    )
    group: str = Field(
        "{label:asg}",
        description="The Auto Scaling group (template) the share counts against when AWS says "
        "the target's instances belong to none; else AWS's answer is used, whatever this says.",
    )
    window: Duration = 3600.0

    @field_validator("group")
    @classmethod
    def _group_template(cls, value: str) -> str:
        return check_template(value)

    @model_validator(mode="after")
    def _a_limit(self) -> BlastRadius:
        if self.max_targets is None and self.max_percent is None:
            raise ValueError("give max_targets, max_percent or both")
        return self


class AutoShadowPolicy(_Strict):
    after: int = Field(3, ge=1, description="not_improved outcomes of one rule...")
    window: Duration = Field(86400.0, description="...within this long switch it to shadow.")


class Rule(_Strict):
    name: str
    description: str = ""
    match: Match
    for_: Duration = Field(0.0, alias="for", description="How long the condition must hold.")
    for_samples: int = Field(1, ge=1, description="Anomaly events the condition must last.")
    reset_after: Duration | None = Field(
        None, description="A gap this long between events starts the count again."
    )
    mode: Literal["live", "shadow"] = "live"
    risk: Risk | None = Field(None, description="Defaults to the riskiest action's risk.")
    approval: Literal["auto", "required"] | None = Field(
        None, description="Unset: required when the policy says so for this risk."
    )
    approvals_required: int = Field(1, ge=1, le=5, description="Distinct people who must approve.")
    cooldown: Duration | None = Field(None, description="Overrides the per-target cooldown.")
    blast_radius: BlastRadius | None = None
    verify: Verify | Literal[False] | None = Field(
        None, description="Post-action verification; unset: the policy's; false: none."
    )
    actions: list[ActionStep] = Field(min_length=1, description="Tried in order.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError("names are lower case letters, digits, - and _ (up to 64)")
        return value

    @property
    def debounced(self) -> bool:
        return self.for_ > 0 or self.for_samples > 1

    def verification(self, policy: Policy) -> Verify | None:
        """The verification this rule's actions get (None: none)."""
        chosen = policy.verify if self.verify is None else self.verify
        return chosen or None

    @property
    def streak_gap(self) -> float:
        """A gap between qualifying events longer than this starts a new streak."""
        if self.reset_after is not None:
            return self.reset_after
        return max(2 * self.for_, 600.0)


class Policy(_Strict):
    approval_for_risk: list[Risk] = Field(
        default_factory=lambda: [Risk.HIGH], description="Risk tiers that need a human."
    )
    critical_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Targets whose anomaly has these labels always need approval.",
    )
    critical_approvals_required: int = Field(1, ge=1, le=5)
    deny_targets: list[str] = Field(default_factory=list, description="Target globs never touched.")
    blast_radius: BlastRadius | Literal[False] = Field(
        default_factory=lambda: BlastRadius(max_targets=DEFAULT_BLAST_TARGETS),
        description="Default for rules without one (5 targets per action an hour when not "
        "given); false (off): none.",
    )
    verify: Verify | Literal[False] | None = Field(
        default_factory=Verify, description="Default post-action verification of every rule."
    )

    def default_blast(self) -> BlastRadius | None:
        """The blast radius of rules without one, and of a person's requests (None: off)."""
        return self.blast_radius or None

    auto_shadow: AutoShadowPolicy | Literal[False] | None = Field(
        default_factory=AutoShadowPolicy,
        description="Rules whose actions keep not improving anything go to shadow mode.",
    )


class RuleSet(_Strict):
    version: Literal[1] = 1
    policy: Policy = Field(default_factory=Policy)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return self

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)
