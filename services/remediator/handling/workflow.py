"""One anomaly's way through the remediator: rules, claim, debounce, approval, safety, action,
record.

Effectively once: before anything runs, the task claims ``anomaly x action`` in Redis
(:mod:`.claims`) and holds a short lease while it works. A duplicate delivery that finds the
claim ``done`` skips; one that finds a live lease waits (:class:`ClaimBusyError`); one that
finds the lease gone takes over the claim of the dead attempt and records what happened to it
(``interrupted``, or resumes polling a command already sent), never running it a second time.

Every decision is recorded: no action (and why), proposed (waiting for a debounce, or a shadow
rule's "would have run"), blocked (by which check), pending approval, dry run, running, and how
it ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import redis
import structlog

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.target_resolution import ResolvedTarget, TargetResolver
from services.remediator.core.accounts import HOME, AccountRefused, AccountRoles, AwsPlace
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.records import incident_record, request_record
from services.remediator.core.rules.engine import (
    ApprovalNeed,
    Candidate,
    EngineContext,
    Recommendation,
    RemediationEngine,
    approval_need,
)
from services.remediator.core.safety_policy import static_refusal
from services.remediator.core.targets import TargetError, fill
from services.remediator.handling.approval_gate import NOT_ASKED, ApprovalGate
from services.remediator.handling.runner import ActionRunner
from services.remediator.handling.scheduling import Scheduler
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.auto_shadow import AutoShadow
from services.remediator.stores.claims import (
    CLAIM_DONE,
    CLAIM_STARTED,
    Claim,
    ClaimBusyError,
    Claims,
    ClaimState,
)
from services.remediator.stores.debounce import Debouncer, Streak
from services.remediator.stores.escalations import Escalations
from services.remediator.stores.keys import claim as claim_key
from services.remediator.stores.keys import lease as lease_key
from services.remediator.stores.recent import RecentAnomalies
from services.remediator.stores.rules import RuleStore
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus

__all__ = [
    "CLAIM_DONE",
    "CLAIM_STARTED",
    "AnomalyWorkflow",
    "ClaimBusyError",
    "WorkflowParts",
    "claim_key",
    "lease_key",
]

log = structlog.get_logger("remediator.workflow")


@dataclass(frozen=True)
class WorkflowParts:
    rules: RuleStore
    claims: Claims
    debouncer: Debouncer
    recent: RecentAnomalies
    approvals: ApprovalStore
    auto_approval: AutoApprovalSwitch
    runner: ActionRunner
    publisher: RecordPublisher
    scheduler: Scheduler
    escalations: Escalations
    auto_shadow: AutoShadow
    targets: TargetResolver
    accounts: AccountRoles = field(default_factory=AccountRoles)  # where it may act in AWS


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    refusal: tuple[str, str] | None = None
    resolved: ResolvedTarget | None = None  # the candidate's target, resolved (None: refused)
    place: AwsPlace = HOME  # the AWS account and region the anomaly came from


class AnomalyWorkflow:
    def __init__(
        self,
        client: redis.Redis,
        *,
        maxlen: int,
        claim_ttl_s: int,
        parts: WorkflowParts | None = None,
    ) -> None:
        if parts is None:  # the defaults: dry-run, the shipped rules, no AWS
            from services.remediator.wiring import default_workflow_parts

            parts = default_workflow_parts(client, maxlen=maxlen, claim_ttl_s=claim_ttl_s)
        self.parts = parts
        self.executor_name = parts.runner.executor.name
        self.gate = ApprovalGate(
            approvals=parts.approvals,
            auto_approval=parts.auto_approval,
            escalations=parts.escalations,
            runner=parts.runner,
            publisher=parts.publisher,
            policy=lambda: parts.rules.engine().policy,
        )

    # -- entry points ----------------------------------------------------------------------

    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool = False) -> RemediationRecord | None:
        engine = self.parts.rules.engine()
        context = EngineContext(
            self.parts.recent.note_and_read(anomaly), self.parts.auto_shadow.names()
        )
        evaluation = engine.evaluate(anomaly, context)
        for shadow in evaluation.shadow:
            self._shadow(anomaly, shadow, engine)
        live = evaluation.live
        if live is None:
            return self._no_action(anomaly, evaluation.no_match_reason)
        choice = self.choose(anomaly, live, engine)
        claim = self._claim(anomaly.event_id, choice.candidate.action)
        if claim is None:
            return None
        if choice.refusal is not None:
            return self._refused(anomaly, live, choice, claim)
        request = self.build_request(anomaly, live, choice, engine, dry_run)
        if claim.state is ClaimState.ABANDONED:
            return self._recover(request, claim)
        if live.rule.debounced:
            streak = self.parts.debouncer.observe(live.rule, anomaly)
            if not streak.satisfied(live.rule):
                return self._wait(anomaly, request, live, streak, claim)
        return self._decide(request, live.approval, claim)

    def recheck(self, anomaly: AnomalyEvent, rule_name: str) -> RemediationRecord | None:
        """A debounced rule's time is up: act if the condition still holds."""
        engine = self.parts.rules.engine()
        context = EngineContext(self.parts.recent.read(anomaly), self.parts.auto_shadow.names())
        live = engine.evaluate(anomaly, context).live
        if live is None or live.rule.name != rule_name:
            log.info("recheck_rule_gone", rule=rule_name)
            return None
        choice = self.choose(anomaly, live, engine)
        claim = self._claim(anomaly.event_id, choice.candidate.action, resume_waiting=True)
        if claim is None:
            return None
        if choice.refusal is not None:
            return self._refused(anomaly, live, choice, claim)
        request = self.build_request(anomaly, live, choice, engine, dry_run=False)
        if claim.state is ClaimState.ABANDONED:
            return self._recover(request, claim)
        if not self.parts.debouncer.still_open(live.rule, anomaly):
            record = request_record(
                request,
                RemediationStatus.NO_ACTION,
                f"the condition cleared before rule {rule_name} acted: nothing done",
                executor=self.executor_name,
                blocked_by="debounce",
                id_detail="cleared",
            )
            return self._publish(record, claim)
        return self._decide(request, live.approval, claim)

    def execute_request(self, request: ActionRequest) -> RemediationRecord | None:
        """A manual request, or an approved one. A manual request takes the decision path of
        every other: its target resolved, then the approval gate (risk tiers, production-
        critical tags with M-of-N, escalations, auto-approval), then the safety checks. An
        approved one has passed the gate: its target is resolved again (tags may have changed
        since) and the safety checks decide."""
        claim = self._claim(request.subject_id, request.action)
        if claim is None:
            return None
        if request.approval_id:
            self.parts.approvals.mark_claimed(request.approval_id)
        if claim.state is ClaimState.ABANDONED:
            if request.approval_id:
                return self.parts.runner.recover(request, claim)
            return self._recover(request, claim)
        resolved = self.resolve(request)
        if isinstance(resolved, tuple):
            return self.parts.runner.refuse(request, claim, *resolved)
        if request.approval_id:
            return self.parts.runner.execute(resolved, claim)
        policy = self.parts.rules.engine().policy
        return self._decide(resolved, approval_need(None, resolved.risk, {}, policy), claim)

    def resolve(self, request: ActionRequest) -> ActionRequest | tuple[str, str]:
        """The request with its target resolved, or why it cannot be: (check, detail). Its
        AWS account is checked again (the settings may have changed since it was made)."""
        try:
            place = self.parts.accounts.place(request.aws_account, request.aws_region)
            resolved = self.parts.targets.resolve(request.target, place)
        except AccountRefused as exc:
            return exc.check, exc.detail
        except TargetError as exc:
            return "no_target", str(exc)
        return request.model_copy(
            update={"target": resolved.target, "target_names": resolved.names}
        )

    # -- steps -----------------------------------------------------------------------------

    def _claim(
        self, subject: uuid.UUID, action: str | None, *, resume_waiting: bool = False
    ) -> Claim | None:
        claim = self.parts.claims.acquire(subject, action, resume_waiting=resume_waiting)
        if claim.state in (ClaimState.DONE, ClaimState.WAITING):
            log.info("duplicate_delivery_skipped", subject=str(subject), state=claim.state.value)
            return None
        return claim

    def choose(
        self, anomaly: AnomalyEvent, live: Recommendation, engine: RemediationEngine
    ) -> Choice:
        """The first candidate whose target resolves (to instances AWS knows, when AWS is at
        hand) and which the allow and deny lists permit, matched on every name of the resolved
        target; else the first candidate, with why none could run. Targets are looked up in
        the AWS account and region the anomaly's labels name; an account the settings do not
        allow refuses every candidate."""
        try:
            place = self.parts.accounts.place_of(anomaly.labels)
        except AccountRefused as exc:
            return Choice(live.candidates[0], (exc.check, exc.detail))
        problem: tuple[str, str] | None = None
        limits = self.parts.runner.safety.limits
        for candidate in live.candidates:
            if not candidate.ready or candidate.target is None:
                why = f"{candidate.action}: {candidate.error}"
                problem = problem or (candidate.error_check, why)
                continue
            try:
                resolved = self.parts.targets.resolve(candidate.target, place)
            except TargetError as exc:
                problem = problem or ("no_target", f"{candidate.action}: {exc}")
                continue
            names = (*resolved.names, anomaly.resource_id)
            refusal = static_refusal(limits, candidate.action, names, engine.policy.deny_targets)
            if refusal is not None:
                problem = problem or (refusal.check, refusal.detail)
                continue
            return Choice(candidate, resolved=resolved, place=place)
        return Choice(live.candidates[0], problem)

    def build_request(
        self,
        anomaly: AnomalyEvent,
        live: Recommendation,
        choice: Choice,
        engine: RemediationEngine,
        dry_run: bool,
    ) -> ActionRequest:
        candidate, resolved = choice.candidate, choice.resolved
        assert resolved is not None, "build requests only for choices without a refusal"
        blast = live.rule.blast_radius or engine.policy.blast_radius
        group = None
        if blast is not None and blast.max_percent:
            try:
                group = fill(blast.group, anomaly.resource_id, anomaly.metric, anomaly.labels)
            except TargetError:
                group = None  # AWS is asked which group the target belongs to
        verify = live.rule.verification(engine.policy)
        if verify is not None and candidate.definition.verifiable:
            verify = verify.for_metric(anomaly.metric)
        else:
            verify = None
        return ActionRequest(
            subject_id=anomaly.event_id,
            incident=Incident.from_anomaly(anomaly),
            action=candidate.action,
            params=candidate.params_json(),
            target=resolved.target,
            target_names=resolved.names,
            reason=live.reason,
            rule=live.rule.name,
            risk=live.risk,
            cooldown_s=live.rule.cooldown,
            blast_max=(blast.max_targets or 0) if blast else 0,
            blast_window_s=blast.window if blast else 3600.0,
            blast_percent=(blast.max_percent or 0.0) if blast else 0.0,
            blast_group=group or None,
            denied_targets=tuple(engine.policy.deny_targets),
            dry_run=dry_run,
            verify=verify,
            aws_account=choice.place.account,
            aws_region=choice.place.region,
        )

    def _decide(
        self, request: ActionRequest, need: ApprovalNeed, claim: Claim
    ) -> RemediationRecord:
        return self.gate.decide(request, need, claim)

    def _recover(self, request: ActionRequest, claim: Claim) -> RemediationRecord | None:
        """An earlier attempt died: it asked for approval (withdrawn now), or it ran."""
        recovered = self.gate.recover(request, claim)
        if recovered == NOT_ASKED:
            return self.parts.runner.recover(request, claim)
        return recovered if isinstance(recovered, RemediationRecord) else None

    def _wait(
        self,
        anomaly: AnomalyEvent,
        request: ActionRequest,
        live: Recommendation,
        streak: Streak,
        claim: Claim,
    ) -> RemediationRecord:
        record = request_record(
            request,
            RemediationStatus.PROPOSED,
            f"{streak.explain(live.rule)} ({request.reason})",
            executor=self.executor_name,
            blocked_by="debounce",
        )
        self.parts.publisher.publish(record)
        wait_s = streak.wait_s(live.rule)
        if wait_s is None:
            claim.finish()  # more anomaly events are needed; a later one decides
        else:
            claim.wait()
            self.parts.scheduler.recheck(anomaly, live.rule.name, wait_s)
        return record

    def _shadow(
        self, anomaly: AnomalyEvent, shadow: Recommendation, engine: RemediationEngine
    ) -> None:
        choice = self.choose(anomaly, shadow, engine)
        claim = self._claim(anomaly.event_id, f"shadow-{shadow.rule.name}")
        if claim is None:
            return
        if shadow.rule.debounced:
            streak = self.parts.debouncer.observe(shadow.rule, anomaly)
            if not streak.satisfied(shadow.rule):
                claim.finish()
                log.info("shadow_rule_waiting", rule=shadow.rule.name)
                return
        candidate = choice.candidate
        refusal = choice.refusal
        outcome = f"would have run: {candidate.describe()}"
        if refusal is None:
            request = self.build_request(anomaly, shadow, choice, engine, dry_run=True)
            _job, check, detail = self.parts.runner.precheck(request)
            refusal = (check, detail) if check is not None else None
        if refusal is not None:
            outcome = f"would have been blocked by {refusal[0].replace('_', ' ')}: {refusal[1]}"
        record = incident_record(
            Incident.from_anomaly(anomaly),
            RemediationStatus.PROPOSED,
            f"{_shadow_name(shadow)} {outcome} ({shadow.reason})",
            action=candidate.action,
            executor="shadow",
            id_detail=f"shadow:{shadow.rule.name}",
            rule=shadow.rule.name,
            risk=shadow.risk.value,
            shadow=True,
            blocked_by="shadow",
            target=candidate.target.key if candidate.target else None,
            params=candidate.params_json(),
        )
        self._publish(record, claim)

    def _no_action(self, anomaly: AnomalyEvent, reason: str) -> RemediationRecord | None:
        claim = self._claim(anomaly.event_id, None)
        if claim is None:
            return None
        record = incident_record(
            Incident.from_anomaly(anomaly),
            RemediationStatus.NO_ACTION,
            reason,
            executor=self.executor_name,
        )
        return self._publish(record, claim)

    def _refused(
        self, anomaly: AnomalyEvent, live: Recommendation, choice: Choice, claim: Claim
    ) -> RemediationRecord:
        assert choice.refusal is not None
        check, detail = choice.refusal
        candidate = choice.candidate
        record = incident_record(
            Incident.from_anomaly(anomaly),
            RemediationStatus.BLOCKED,
            f"{detail} ({live.reason})",
            action=candidate.action,
            executor=self.executor_name,
            blocked_by=check,
            rule=live.rule.name,
            risk=live.risk.value,
            target=candidate.target.key if candidate.target else None,
            params=candidate.params_json(),
        )
        return self._publish(record, claim)

    def _publish(self, record: RemediationRecord, claim: Claim) -> RemediationRecord:
        self.parts.publisher.publish(
            record, done_claim=claim.key, claim_ttl_s=self.parts.claims.ttl_s
        )
        return record


def _shadow_name(shadow: Recommendation) -> str:
    if shadow.demoted:
        return f"rule {shadow.rule.name} (in shadow mode: its actions did not improve anything)"
    return f"shadow rule {shadow.rule.name}"
