"""The remediation engine: which rule an anomaly matches, what it recommends and why (no I/O).

The first live rule that matches acts; matching shadow rules are reported beside it. Each
recommendation carries its actions in the rule's order with typed parameters and resolved
targets, the risk tier, whether a human must approve, and a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from pydantic import ValidationError

from services.remediator.core.actions.base import ActionDefinition
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.risk import Risk, highest
from services.remediator.core.rules.loading import LoadedRules
from services.remediator.core.rules.schema import ActionStep, Policy, Rule
from services.remediator.core.targets import Target, TargetError, fill_params
from shared.events import AnomalyEvent, Severity
from shared.readable_numbers import value_and_band


@dataclass(frozen=True)
class EngineContext:
    """What else is known: metrics anomalous on the anomaly's resource right now, and the
    rules switched to shadow mode automatically (their actions did not improve anything)."""

    co_anomalous: frozenset[str] = frozenset()
    demoted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    step: ActionStep
    definition: ActionDefinition
    params: Any | None
    target: Target | None
    error: str | None = None
    error_check: str = "no_target"  # how a refusal for ``error`` is recorded (blocked_by)

    @property
    def action(self) -> str:
        return self.definition.name

    @property
    def ready(self) -> bool:
        return self.error is None and self.target is not None and self.params is not None

    def describe(self) -> str:
        if self.target is None or self.params is None:
            return f"{self.action} ({self.error})"
        return self.definition.describe(self.params, self.target)

    def params_json(self) -> dict[str, Any]:
        if self.params is None:
            return dict(self.step.params)
        dumped: dict[str, Any] = self.params.model_dump(mode="json")
        return dumped


@dataclass(frozen=True)
class ApprovalNeed:
    required: bool
    approvals: int
    why: str
    escalated: bool = False  # the target's last action did not help: no auto-approval
    critical: bool = False  # the target is tagged production-critical: no auto-approval


def approvers_wanted(approvals: int, requester: bool) -> str:
    """Who an approval waits for, said the same way by the API's answer to a manual request
    and by the approval request itself (its reason, shown in Slack): a manual request's
    requester never counts as one of its approvers."""
    people = "one person" if approvals == 1 else f"{approvals} different people"
    return f"{people} other than the requester" if requester else people


@dataclass(frozen=True)
class Recommendation:
    rule: Rule
    candidates: tuple[Candidate, ...]
    reason: str
    risk: Risk
    approval: ApprovalNeed
    shadow: bool = False
    demoted: bool = False  # in shadow mode automatically, not by the rules file


@dataclass(frozen=True)
class Evaluation:
    live: Recommendation | None
    shadow: tuple[Recommendation, ...] = ()
    no_match_reason: str = ""
    co_anomalous: frozenset[str] = field(default_factory=frozenset)


class RemediationEngine:
    def __init__(self, loaded: LoadedRules, registry: ActionRegistry) -> None:
        self.loaded = loaded
        self.registry = registry

    @property
    def policy(self) -> Policy:
        return self.loaded.rules.policy

    def evaluate(self, anomaly: AnomalyEvent, context: EngineContext | None = None) -> Evaluation:
        context = context or EngineContext()
        co = frozenset(context.co_anomalous | set(anomaly.contributing_metrics)) - {anomaly.metric}
        live: Recommendation | None = None
        shadow: list[Recommendation] = []
        misses: list[_Miss] = []
        for rule in self.loaded.rules.rules:
            demoted = rule.mode == "live" and rule.name in context.demoted
            in_shadow = rule.mode == "shadow" or demoted
            if live is not None and not in_shadow:
                continue
            miss = _mismatch(rule, anomaly, co)
            if miss is not None:
                misses.append(miss)
                continue
            recommendation = self._recommend(rule, anomaly, co, in_shadow, demoted)
            if in_shadow:
                shadow.append(recommendation)
            else:
                live = recommendation
        reason = "" if live else _no_match_reason(anomaly, misses)
        if live is None and shadow:
            names = ", ".join(
                f"{s.rule.name} (switched to shadow mode: its actions did not improve anything)"
                if s.demoted
                else s.rule.name
                for s in shadow
            )
            reason = f"only shadow rules match: {names}; nothing done"
        return Evaluation(live, tuple(shadow), reason, co)

    def _recommend(
        self,
        rule: Rule,
        anomaly: AnomalyEvent,
        co: frozenset[str],
        shadow: bool = False,
        demoted: bool = False,
    ) -> Recommendation:
        candidates = tuple(self.candidate(step, anomaly) for step in rule.actions)
        risk = rule.risk or highest(
            [c.definition.risk_for(c.params) if c.params else c.definition.risk for c in candidates]
        )
        return Recommendation(
            rule=rule,
            candidates=candidates,
            reason=_match_reason(rule, anomaly, co),
            risk=risk,
            approval=approval_need(rule, risk, anomaly.labels, self.policy),
            shadow=shadow,
            demoted=demoted,
        )

    def candidate(self, step: ActionStep, anomaly: AnomalyEvent) -> Candidate:
        definition = self.registry[step.action]
        where = (anomaly.resource_id, anomaly.metric, anomaly.labels)
        try:
            params = definition.parse(fill_params(step.params, *where))
        except TargetError as exc:
            return Candidate(step, definition, None, None, str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            error = f"parameter {field}: {first['msg']}"
            return Candidate(step, definition, None, None, error, "invalid_params")
        try:
            target = step.target.resolve(*where)
        except TargetError as exc:
            return Candidate(step, definition, params, None, str(exc))
        if not definition.accepts(target):
            error = f"{definition.name} cannot act on {target.describe()}"
            return Candidate(step, definition, params, None, error)
        return Candidate(step, definition, params, target)


def approval_need(
    rule: Rule | None, risk: Risk, labels: Mapping[str, str], policy: Policy
) -> ApprovalNeed:
    """Whether a person must approve. ``rule`` None: a manual request, which the policy's
    risk tiers and critical labels decide alone (the target's tags are added by the gate)."""
    critical = bool(policy.critical_labels) and all(
        fnmatchcase(labels.get(k, ""), v) and k in labels for k, v in policy.critical_labels.items()
    )
    approvals = rule.approvals_required if rule is not None else 1
    if critical:
        approvals = max(approvals, policy.critical_approvals_required)
        return ApprovalNeed(True, approvals, "the target is labelled production-critical")
    if rule is not None and rule.approval == "required":
        return ApprovalNeed(True, approvals, f"rule {rule.name} requires approval")
    if rule is not None and rule.approval == "auto":
        return ApprovalNeed(False, 0, f"rule {rule.name} runs without approval")
    if risk in policy.approval_for_risk:
        return ApprovalNeed(True, approvals, f"{risk} risk actions need approval")
    return ApprovalNeed(False, 0, f"{risk} risk actions run without approval")


@dataclass(frozen=True)
class _Miss:
    """Why a rule did not match, and how close it came (higher is closer: 0 another metric,
    1 resource or labels, 2 severity, 3 score, 4 what else is anomalous)."""

    closeness: int
    why: str = ""
    below: Severity | None = None  # the rule's lowest severity, when severity was the miss


def scope_miss(
    rule: Rule, metric: str, resource_id: str, labels: Mapping[str, str], severity: Severity
) -> str | None:
    """Why ``rule`` does not cover an anomaly of this metric, resource, labels and severity
    (None: it does). What an approved action's incident still holds to be matched again."""
    miss = _scope_miss(rule, metric, resource_id, labels, severity)
    if miss is None:
        return None
    if miss.below is not None:
        return f"it acts on severity {miss.below} and above, this anomaly is {severity}"
    return miss.why or f"it is for other metrics than {metric}"


def _scope_miss(
    rule: Rule, metric: str, resource_id: str, labels: Mapping[str, str], severity: Severity
) -> _Miss | None:
    match = rule.match
    if not match.metric_matches(metric):
        return _Miss(0)
    if not match.resource_matches(resource_id):
        return _Miss(1, f"rule {rule.name} does not cover resource {resource_id}")
    missing = match.missing_labels(labels)
    if missing:
        return _Miss(1, f"rule {rule.name} needs labels {', '.join(missing)}")
    if severity.rank < match.severity_at_least.rank:
        return _Miss(2, below=match.severity_at_least)
    return None


def _mismatch(rule: Rule, anomaly: AnomalyEvent, co: frozenset[str]) -> _Miss | None:
    """None when ``rule`` matches."""
    match = rule.match
    scope = _scope_miss(rule, anomaly.metric, anomaly.resource_id, anomaly.labels, anomaly.severity)
    if scope is not None:
        return scope
    if anomaly.score < match.min_score:
        return _Miss(
            3, f"rule {rule.name} needs a score of {match.min_score:g} ({anomaly.score:.2f})"
        )
    wanted = match.also_anomalous
    if wanted and not any(fnmatchcase(m, p) for m in co for p in wanted):
        return _Miss(4, f"rule {rule.name} needs one of {', '.join(wanted)} anomalous too")
    return None


def _no_match_reason(anomaly: AnomalyEvent, misses: list[_Miss]) -> str:
    relevant = [m for m in misses if m.closeness > 0]
    if not relevant:
        return f"no rule covers metric {anomaly.metric}"
    closest = max(m.closeness for m in relevant)
    nearest = [m for m in relevant if m.closeness == closest]
    severities = [m.below for m in nearest if m.below is not None]
    if severities:
        lowest = min(severities, key=lambda s: s.rank)
        return (
            f"severity {anomaly.severity} is below {lowest}, the lowest severity a rule for "
            f"{anomaly.metric} acts on: watch, do not act"
        )
    return "; ".join(dict.fromkeys(m.why for m in nearest))


def _match_reason(rule: Rule, anomaly: AnomalyEvent, co: frozenset[str]) -> str:
    low, high = anomaly.expected_low, anomaly.expected_high
    # No band at all (an Alertmanager alert's value is both bounds): none is claimed.
    shown_value, shown_low, shown_high = value_and_band(anomaly.value, low, high)
    band = "" if low == high == anomaly.value else f"expected {shown_low} to {shown_high}, "
    # An alert posted without a value has none (its `value` means nothing).
    value = shown_value if anomaly.value_given else "no value given"
    reason = (
        f"{anomaly.severity} anomaly on {anomaly.metric}: {value} ({band}score {anomaly.score:.2f})"
    )
    if co:
        reason += f"; also anomalous: {', '.join(sorted(co))}"
    return f"{reason}; rule {rule.name}"
