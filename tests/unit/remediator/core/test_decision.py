"""The one decision path, without I/O: what the live workflow, the dry evaluation and manual
requests all do with a request, given what the world says (a fake :class:`Lookups`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.remediator.core.accounts import AccountRoles, AwsPlace
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.decision import Choice, Next, build_request, choose, decide
from services.remediator.core.risk import Risk
from services.remediator.core.rules.loading import load_rules_text
from services.remediator.core.rules.matching import (
    ApprovalNeed,
    Recommendation,
    RemediationEngine,
    approval_need,
)
from services.remediator.core.rules.schema import Policy
from services.remediator.core.safety_policy import Refusal, SafetyLimits
from services.remediator.core.targets import ResolvedTarget, Target, TargetError
from shared.events import AnomalyEvent
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
policy:
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
  deny_targets: ["db-*"]
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions:
      - action: scale_out
        target: {auto_scaling_group: "{label:asg}"}
      - action: restart_service
        params: {service: nginx}
"""

NO_APPROVAL = ApprovalNeed(False, 0, "low risk actions run without approval")


@dataclass
class World:
    """What a fake world answers; ``unknown``: groups AWS does not know."""

    refusal: Refusal | None = None
    escalation: str | None = None
    auto: bool = False
    dry: bool = False
    unknown: set[str] = field(default_factory=set)
    tags: tuple[str, ...] = ()
    asked_auto: int = 0

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        if target.kind == "auto_scaling_group" and target.group in self.unknown:
            raise TargetError(f"no Auto Scaling group {target.group}")
        return ResolvedTarget(target, (*target.names(), *self.tags))


class Lookups:
    def __init__(self, world: World) -> None:
        self.world = world

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        return self.world.resolve(target, place)

    def refusal(self, request: ActionRequest) -> Refusal | None:
        return self.world.refusal

    def escalation(self, request: ActionRequest) -> str | None:
        return self.world.escalation

    def auto_approval(self) -> bool:
        self.world.asked_auto += 1
        return self.world.auto

    def dry_run(self) -> bool:
        return self.world.dry


@pytest.fixture
def engine(registry: ActionRegistry) -> RemediationEngine:
    return RemediationEngine(load_rules_text(RULES, "t.yaml", registry), registry)


def _live(engine: RemediationEngine, event: AnomalyEvent) -> Recommendation:
    live = engine.evaluate(event).live
    assert live is not None
    return live


def _request(engine: RemediationEngine, event: AnomalyEvent, world: World) -> ActionRequest:
    live = _live(engine, event)
    choice = choose(
        event,
        live,
        policy=engine.policy,
        limits=SafetyLimits(),
        accounts=AccountRoles(),
        lookups=Lookups(world),
    )
    assert choice.refusal is None
    return build_request(event, live, choice, engine.policy, dry_run=False)


def test_the_first_candidate_whose_target_resolves_is_chosen(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    event = anomaly(labels={"asg": "web-asg"})
    live = _live(engine, event)

    def chosen_in(world: World) -> Choice:
        return choose(
            event,
            live,
            policy=engine.policy,
            limits=SafetyLimits(),
            accounts=AccountRoles(),
            lookups=Lookups(world),
        )

    chosen = chosen_in(World())
    assert chosen.candidate.action == "scale_out" and chosen.refusal is None
    gone = chosen_in(World(unknown={"web-asg"}))
    assert gone.candidate.action == "restart_service" and gone.refusal is None


def test_when_no_candidate_can_run_the_first_reason_is_kept(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    event = anomaly(resource_id="db-1")  # no asg label; the resource is denied
    chosen = choose(
        event,
        _live(engine, event),
        policy=engine.policy,
        limits=SafetyLimits(),
        accounts=AccountRoles(),
        lookups=Lookups(World()),
    )
    assert chosen.candidate.action == "scale_out"
    assert chosen.refusal is not None and chosen.refusal.check == "no_target"


def test_an_account_nobody_mapped_refuses_every_candidate(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    event = anomaly(labels={"asg": "web-asg", "aws_account": "210987654321"})
    chosen = choose(
        event,
        _live(engine, event),
        policy=engine.policy,
        limits=SafetyLimits(),
        accounts=AccountRoles(),
        lookups=Lookups(World()),
    )
    assert chosen.refusal is not None and chosen.refusal.check == "unknown_account"


def test_the_order_wait_then_blocked_then_dry_run_then_ask_then_run(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), World())
    need = ApprovalNeed(True, 1, "rule cpu requires approval")
    refused = Refusal("cooldown", "web-asg acted on 2 minutes ago")

    def next_of(world: World, satisfied: bool = True) -> Next:
        return decide(
            request,
            need,
            policy=engine.policy,
            lookups=Lookups(world),
            debounce_satisfied=satisfied,
        ).next

    assert next_of(World(refusal=refused, dry=True), satisfied=False) is Next.WAIT
    assert next_of(World(refusal=refused, dry=True)) is Next.BLOCKED
    assert next_of(World(dry=True)) is Next.DRY_RUN
    assert next_of(World()) is Next.ASK
    assert next_of(World(auto=True)) is Next.RUN


def test_a_waiting_decision_still_says_what_would_refuse_it(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), World())
    refused = Refusal("maintenance", "web-asg is in maintenance window w1")
    decision = decide(
        request,
        NO_APPROVAL,
        policy=engine.policy,
        lookups=Lookups(World(refusal=refused)),
        debounce_satisfied=False,
    )
    assert decision.next is Next.WAIT and decision.refusal == refused


def test_auto_approval_runs_what_needs_a_person_and_says_so(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), World())
    need = ApprovalNeed(True, 1, "high risk actions need approval")
    decision = decide(request, need, policy=engine.policy, lookups=Lookups(World(auto=True)))
    assert decision.next is Next.RUN and decision.auto_approved
    plain = decide(request, NO_APPROVAL, policy=engine.policy, lookups=Lookups(World(auto=True)))
    assert plain.next is Next.RUN and not plain.auto_approved


def test_an_escalated_target_needs_a_person_even_with_auto_approval(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), World())
    world = World(auto=True, escalation="restart_service did not improve cpu_utilization")
    decision = decide(request, NO_APPROVAL, policy=engine.policy, lookups=Lookups(world))
    assert decision.next is Next.ASK
    assert decision.need.escalated and decision.need.approvals == 1
    assert decision.need.why.startswith("escalated: ")
    assert world.asked_auto == 0


def test_targets_tagged_production_critical_need_the_policys_number_of_people(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    world = World(tags=("tag:criticality=production-critical",))
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), world)
    decision = decide(request, NO_APPROVAL, policy=engine.policy, lookups=Lookups(world))
    assert decision.next is Next.ASK
    assert decision.need.approvals == 2
    assert decision.need.why == "the target is tagged production-critical"


def test_auto_approval_does_not_stand_in_for_the_people_a_critical_target_needs(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    world = World(auto=True, tags=("tag:criticality=production-critical",))
    request = _request(engine, anomaly(labels={"asg": "web-asg"}), world)
    need = ApprovalNeed(True, 1, "high risk actions need approval")
    decision = decide(request, need, policy=engine.policy, lookups=Lookups(world))
    assert (decision.next, decision.auto_approved) == (Next.ASK, False)
    assert decision.need.approvals == 2 and decision.need.critical


def test_a_persons_request_is_decided_by_the_policys_risk_tiers() -> None:
    request = ActionRequest(
        subject_id="6f1c1f9e-3c1e-4a8e-9a57-0d8f2f6a1b2c",
        incident=Incident(
            anomaly_id="6f1c1f9e-3c1e-4a8e-9a57-0d8f2f6a1b2c",
            correlation_id="c",
            resource_id="web-1",
            metric="manual",
            severity="medium",
        ),
        action="scale_in",
        target=Target.for_group("web-asg"),
        reason="manual request by ana: too many",
        risk=Risk.HIGH,
        automatic=False,
    )
    policy = Policy()
    need = approval_need(None, request.risk, {}, policy)
    decision = decide(request, need, policy=policy, lookups=Lookups(World()))
    assert decision.next is Next.ASK and decision.need.why == "high risk actions need approval"
    low = request.model_copy(update={"risk": Risk.LOW})
    low_need = approval_need(None, low.risk, {}, policy)
    assert decide(low, low_need, policy=policy, lookups=Lookups(World())).next is Next.RUN
