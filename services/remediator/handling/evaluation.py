"""A dry evaluation of an anomaly: which rule, which action on what, whether it would wait
(debounce), need a human, or be stopped by a safety check, and why. Changes nothing.

It takes the live workflow's decision (:mod:`..core.decision`: choose, build the request,
decide), with the debounce streak peeked instead of advanced, so it cannot drift from what a
worker does with the same anomaly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from services.remediator.core.decision import Next
from services.remediator.core.rules.matching import EngineContext
from services.remediator.handling.workflow import AnomalyWorkflow
from shared.events import AnomalyEvent, Severity, utcnow

Outcome = Literal["would_run", "dry_run", "would_wait", "needs_approval", "blocked", "no_action"]


class DebounceView(BaseModel):
    for_s: float
    for_samples: int
    held_s: float
    events_with_this_one: int
    satisfied: bool


class ApprovalView(BaseModel):
    required: bool
    approvals: int
    why: str
    auto_approval: bool


class SafetyView(BaseModel):
    allowed: bool
    blocked_by: str | None = None
    detail: str = ""


class ShadowView(BaseModel):
    rule: str
    action: str
    would: str


class Evaluation(BaseModel):
    outcome: Outcome = Field(examples=["would_run"])
    reason: str
    rule: str | None = None
    risk: str | None = None
    action: str | None = Field(None, examples=["restart_service"])
    target: str | None = Field(None, examples=["i-0abc123def4567890"])
    description: str | None = Field(None, examples=["restart nginx on i-0abc123def4567890"])
    params: dict[str, Any] = Field(default_factory=dict)
    alternatives: list[str] = Field(
        default_factory=list, description="Later actions of the rule, with why not chosen."
    )
    debounce: DebounceView | None = None
    approval: ApprovalView | None = None
    safety: SafetyView | None = None
    shadow: list[ShadowView] = Field(default_factory=list)
    verify: str | None = Field(
        None,
        description="What is watched after the action succeeds.",
        examples=["cpu_utilization back to normal within 10m"],
    )


OUTCOMES: dict[Next, Outcome] = {
    Next.WAIT: "would_wait",
    Next.BLOCKED: "blocked",
    Next.DRY_RUN: "dry_run",
    Next.ASK: "needs_approval",
    Next.RUN: "would_run",
}


def evaluate(workflow: AnomalyWorkflow, anomaly: AnomalyEvent) -> Evaluation:
    parts = workflow.parts
    engine = parts.rules.engine()
    context = EngineContext(parts.recent.read(anomaly), parts.auto_shadow.names())
    result = engine.evaluate(anomaly, context)
    shadow = [
        ShadowView(
            rule=s.rule.name, action=s.candidates[0].action, would=s.candidates[0].describe()
        )
        for s in result.shadow
    ]
    live = result.live
    if live is None:
        return Evaluation(outcome="no_action", reason=result.no_match_reason, shadow=shadow)
    choice = workflow.choose(anomaly, live, engine)
    candidate = choice.candidate
    alternatives = [
        f"{c.action}: {c.error or 'not needed (an earlier action applies)'}"
        for c in live.candidates
        if c is not candidate
    ]
    view = Evaluation(
        outcome="would_run",
        reason=live.reason,
        rule=live.rule.name,
        risk=live.risk.value,
        action=candidate.action,
        target=candidate.target.key if candidate.target else None,
        description=candidate.describe(),
        params=candidate.params_json(),
        alternatives=alternatives,
        shadow=shadow,
    )
    if choice.refusal is not None:
        refused = SafetyView(
            allowed=False, blocked_by=choice.refusal.check, detail=choice.refusal.detail
        )
        return view.model_copy(update={"outcome": "blocked", "safety": refused})
    request = workflow.build_request(anomaly, live, choice, engine, dry_run=False)
    debounce = None
    if live.rule.debounced:
        streak = parts.debouncer.peek(live.rule, anomaly)
        debounce = DebounceView(
            for_s=live.rule.for_,
            for_samples=live.rule.for_samples,
            held_s=streak.held_s,
            events_with_this_one=streak.events,
            satisfied=streak.satisfied(live.rule),
        )
    decision = workflow.decide(
        request, live.approval, engine, debounce_satisfied=debounce is None or debounce.satisfied
    )
    need = decision.need
    if decision.refusal is not None:
        safety = SafetyView(
            allowed=False, blocked_by=decision.refusal.check, detail=decision.refusal.detail
        )
    else:
        safety = SafetyView(allowed=True, detail=parts.runner.checks.precheck(request).detail)
    auto = decision.auto_approved or (
        need.required and not need.escalated and workflow.lookups.auto_approval()
    )
    approval = ApprovalView(
        required=need.required, approvals=need.approvals, why=need.why, auto_approval=auto
    )
    return view.model_copy(
        update={
            "outcome": OUTCOMES[decision.next],
            "safety": safety,
            "approval": approval,
            "debounce": debounce,
            "verify": request.verify.describe() if request.verify else None,
        }
    )


def synthetic_anomaly(
    resource_id: str, metric: str, severity: Severity, correlation_id: str
) -> AnomalyEvent:
    """A synthetic anomaly for ``POST /remediation/test`` (always handled in dry-run)."""
    at = utcnow()
    return AnomalyEvent(
        event_id=AnomalyEvent.derive_id(resource_id, metric, at),
        correlation_id=correlation_id,
        resource_id=resource_id,
        metric=metric,
        value=99.0,
        observed_at=at,
        score=0.99,
        severity=severity,
        expected_low=20.0,
        expected_high=50.0,
        model_version="synthetic",
        explanation="synthetic anomaly from POST /remediation/test",
        labels={"synthetic": "true"},
    )
