"""The one decision path: what happens to an anomaly's recommendation or a person's request.

The live workflow, the dry evaluation (``POST /remediation/evaluate``) and manual requests all
decide here, in the same order, so a forecast cannot drift from what the worker does:

1. :func:`choose`: the first candidate whose target resolves (in the AWS account and region the
   anomaly came from) and which the allow and deny lists permit, matched on every name of the
   resolved target;
2. :func:`build_request`: the action request, from the rule, the policy and the chosen target;
3. :func:`decide`: wait (debounce) > blocked (a safety check refuses now) > dry run > ask people
   (risk tiers, production-critical tags with M-of-N, escalations, auto-approval) > run.

What a decision needs to know of the world (instances in AWS, the safety counters, escalated
targets, the auto-approval switch) is asked through :class:`Lookups`, which only read: nothing
here changes anything. The worker still takes the atomic safety reservation before it acts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol, TypeVar

from services.remediator.core.accounts import HOME, AccountRefused, AccountRoles, AwsPlace
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.rules.matching import ApprovalNeed, Candidate, Recommendation
from services.remediator.core.rules.schema import BlastRadius, Policy, Rule
from services.remediator.core.safety_policy import (
    Refusal,
    SafetyLimits,
    critical_match,
    static_refusal,
)
from services.remediator.core.targets import ResolvedTarget, Target, TargetError, fill
from shared.events import AnomalyEvent

N = TypeVar("N", int, float)


class Lookups(Protocol):
    """What a decision reads from the world. Nothing here may change anything."""

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        """The target as it is now; raises TargetError when it names nothing actionable."""

    def refusal(self, request: ActionRequest) -> Refusal | None:
        """The safety check that would refuse the request now, if any (peeked)."""

    def escalation(self, request: ActionRequest) -> str | None:
        """Why the request's target is escalated (its last action did not help), if it is."""

    def auto_approval(self) -> bool:
        """Whether auto-approval is switched on."""

    def dry_run(self) -> bool:
        """Whether the remediator is in dry-run now."""


@dataclass(frozen=True)
class Choice:
    """The candidate an anomaly's recommendation acts with, or why none can (``refusal``)."""

    candidate: Candidate
    refusal: Refusal | None = None
    resolved: ResolvedTarget | None = None  # the candidate's target, resolved (None: refused)
    place: AwsPlace = HOME  # the AWS account and region the anomaly came from


def choose(
    anomaly: AnomalyEvent,
    live: Recommendation,
    *,
    policy: Policy,
    limits: SafetyLimits,
    accounts: AccountRoles,
    lookups: Lookups,
) -> Choice:
    """The first candidate whose target resolves and which the allow and deny lists permit;
    else the first candidate, with why none could run. An account the settings do not allow
    refuses every candidate."""
    try:
        place = accounts.place_of(anomaly.labels)
    except AccountRefused as exc:
        return Choice(live.candidates[0], Refusal(exc.check, exc.detail))
    problem: Refusal | None = None
    for candidate in live.candidates:
        if not candidate.ready or candidate.target is None:
            problem = problem or Refusal(
                candidate.error_check, f"{candidate.action}: {candidate.error}"
            )
            continue
        try:
            resolved = lookups.resolve(candidate.target, place)
        except TargetError as exc:
            problem = problem or Refusal("no_target", f"{candidate.action}: {exc}")
            continue
        names = (*resolved.names, anomaly.resource_id)
        refusal = static_refusal(limits, candidate.action, names, policy.deny_targets)
        if refusal is not None:
            problem = problem or refusal
            continue
        return Choice(candidate, resolved=resolved, place=place)
    return Choice(live.candidates[0], problem)


def build_request(
    anomaly: AnomalyEvent, live: Recommendation, choice: Choice, policy: Policy, *, dry_run: bool
) -> ActionRequest:
    """The request for a choice without a refusal."""
    candidate, resolved = choice.candidate, choice.resolved
    assert resolved is not None, "build requests only for choices without a refusal"
    incident = Incident.from_anomaly(anomaly)
    blast = live.rule.blast_radius or policy.default_blast()
    group = _blast_group(blast, incident) if blast is not None and blast.max_percent else None
    verify = live.rule.verification(policy)
    if verify is not None and candidate.definition.verifiable:
        verify = verify.for_metric(anomaly.metric)
    else:
        verify = None
    return ActionRequest(
        subject_id=anomaly.event_id,
        incident=incident,
        action=candidate.action,
        params=candidate.params_json(),
        target=resolved.target,
        target_names=resolved.names,
        target_instances=resolved.instances,
        reason=live.reason,
        rule=live.rule.name,
        risk=live.risk,
        cooldown_s=live.rule.cooldown,
        blast_max=(blast.max_targets or 0) if blast else 0,
        blast_window_s=blast.window if blast else 3600.0,
        blast_percent=(blast.max_percent or 0.0) if blast else 0.0,
        blast_group=group,
        denied_targets=tuple(policy.deny_targets),
        dry_run=dry_run,
        verify=verify,
        # whose key sent the data that asked: they never approve it (a rule acting on an
        # alert an operator posted is that operator's request)
        requested_by=anomaly.sent_by,
        aws_account=choice.place.account,
        aws_region=choice.place.region,
    )


def limits_in_force(
    request: ActionRequest, rule: Rule | None, policy: Policy, default_cooldown_s: float
) -> ActionRequest:
    """A waiting request (approved, or a person's, queued) with the stricter of the limits
    it was made with and those its rule (a person's request: the policy's default blast
    radius) sets now: a reload while it waited can tighten its cooldown or blast radius,
    never loosen them."""
    blast = (rule.blast_radius if rule is not None else None) or policy.default_blast()
    cooldown = request.cooldown_s
    if rule is not None:
        before = default_cooldown_s if cooldown is None else cooldown
        now = default_cooldown_s if rule.cooldown is None else rule.cooldown
        if now > before:
            cooldown = rule.cooldown
    if blast is None:
        return request.model_copy(update={"cooldown_s": cooldown})
    group = request.blast_group
    if group is None and blast.max_percent:
        group = _blast_group(blast, request.incident)
    return request.model_copy(
        update={
            "cooldown_s": cooldown,
            "blast_max": _stricter(request.blast_max, blast.max_targets or 0),
            "blast_percent": _stricter(request.blast_percent, blast.max_percent or 0.0),
            "blast_window_s": max(request.blast_window_s, blast.window),
            "blast_group": group,
        }
    )


def _stricter(asked: N, now: N) -> N:
    """The lower of two maxima where 0 means none."""
    return now if not asked else asked if not now else min(asked, now)


def _blast_group(blast: BlastRadius, incident: Incident) -> str | None:
    try:
        return fill(blast.group, incident.resource_id, incident.metric, incident.labels) or None
    except TargetError:
        return None  # AWS is asked which group the target belongs to


class Next(StrEnum):
    """What happens to a request now."""

    WAIT = "wait"  # a debounced rule's condition has not held long enough yet
    BLOCKED = "blocked"  # a safety check refuses it now
    DRY_RUN = "dry_run"  # nothing is changed: described only
    ASK = "ask"  # people must approve first
    RUN = "run"  # it runs, once the atomic safety reservation passes


@dataclass(frozen=True)
class Decision:
    next: Next
    need: ApprovalNeed  # with production-critical tags and escalations applied
    refusal: Refusal | None = None  # the safety check that refuses it now, if any
    auto_approved: bool = False  # it runs without people because auto-approval is on


def approval_for(
    request: ActionRequest, need: ApprovalNeed, policy: Policy, escalation: str | None
) -> ApprovalNeed:
    """The approval a request needs. A target whose resolved tags are production-critical
    needs the policy's number of people, whoever asked and whatever the anomaly's labels said;
    an escalated target needs at least one person. Auto-approval applies to neither: the
    policy asked for people on exactly these targets, and a switch for the whole fleet does
    not say otherwise."""
    if critical_match(policy.critical_labels, request.names):
        approvals = max(need.approvals, policy.critical_approvals_required)
        if not need.required or approvals > need.approvals:
            why = "the target is tagged production-critical"
            need = replace(need, required=True, approvals=approvals, why=why)
        need = replace(need, critical=True)
    if escalation is None:
        return need
    return replace(
        need,
        required=True,
        approvals=max(need.approvals, 1),
        why=f"escalated: {escalation}",
        escalated=True,
    )


def decide(
    request: ActionRequest,
    need: ApprovalNeed,
    *,
    policy: Policy,
    lookups: Lookups,
    debounce_satisfied: bool = True,
) -> Decision:
    """What happens to ``request`` now. ``need``: what the rule (or, for a person's request,
    the policy alone) says about approval; ``debounce_satisfied``: False while a debounced
    rule's condition has not held long enough."""
    need = approval_for(request, need, policy, lookups.escalation(request))
    refusal = lookups.refusal(request)
    if not debounce_satisfied:
        return Decision(Next.WAIT, need, refusal)
    if refusal is not None:
        return Decision(Next.BLOCKED, need, refusal)
    if request.dry_run or lookups.dry_run():
        return Decision(Next.DRY_RUN, need)
    if not need.required:
        return Decision(Next.RUN, need)
    if need.escalated or need.critical or not lookups.auto_approval():
        return Decision(Next.ASK, need)
    return Decision(Next.RUN, need, auto_approved=True)
