"""One anomaly's way through the remediator: rules, claim, the core's decision, then acting on
it (wait, refuse, ask people, run) and recording it.

The decision itself (which candidate, the request, wait > blocked > dry run > ask > run) is
taken by :mod:`..core.decision`, the same function the dry evaluation and manual requests
call; this module adds what only a live event does: the claim, the debounce streak, records.

Effectively once: before anything runs, the task claims ``anomaly x action`` in Redis
(:mod:`..stores.claims`) and holds a short lease while it works. A duplicate delivery that
finds the claim ``done`` skips; one that finds a live lease waits (``ClaimBusyError``); one
that finds the lease gone takes over the claim of the dead attempt and records what happened
to it (``interrupted``, or resumes polling a command already sent), never running it twice.

Every decision is recorded: no action (and why), proposed (waiting for a debounce, or a shadow
rule's "would have run"), blocked (by which check), pending approval, dry run, running, and how
it ended.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace

import structlog

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.target_resolution import TargetResolver
from services.remediator.core.accounts import AccountRefused, AccountRoles
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.decision import (
    Choice,
    Decision,
    Lookups,
    Next,
    approval_for,
    build_request,
    choose,
    decide,
    limits_in_force,
)
from services.remediator.core.records import incident_record, request_record
from services.remediator.core.rules.matching import (
    ApprovalNeed,
    EngineContext,
    Evaluation,
    Recommendation,
    RemediationEngine,
    approval_need,
    scope_miss,
)
from services.remediator.core.rules.schema import Rule
from services.remediator.core.safety_policy import Refusal
from services.remediator.core.targets import TargetError
from services.remediator.errors import ApprovalNotFoundError
from services.remediator.handling.approval_decisions import lapsed_record
from services.remediator.handling.approval_gate import NOT_ASKED, ApprovalGate
from services.remediator.handling.lookups import RequestLookups, WorldLookups
from services.remediator.handling.runner import ActionRunner
from services.remediator.handling.safety_checks import Prepared
from services.remediator.handling.scheduling import Scheduler
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.auto_shadow import AutoShadow
from services.remediator.stores.claims import Claim, Claims, ClaimState
from services.remediator.stores.debounce import Debouncer, Streak
from services.remediator.stores.decision_steps import DecisionSteps, Noted
from services.remediator.stores.dispatched import (
    DEBOUNCE_WAIT,
    DispatchedAnomalies,
    member,
    recheck_commands,
)
from services.remediator.stores.escalations import Escalations
from services.remediator.stores.recent import RecentAnomalies
from services.remediator.stores.rules import RuleStore
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus

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
    steps: DecisionSteps  # the decision's Redis steps, one script each
    dispatched: DispatchedAnomalies  # anomalies sent and not yet decided (sent again if stalled)
    accounts: AccountRoles = field(default_factory=AccountRoles)  # where it may act in AWS


class AnomalyWorkflow:
    def __init__(self, parts: WorkflowParts) -> None:
        self.parts = parts
        self.executor_name = parts.runner.executor.name
        self.lookups = WorldLookups(
            targets=parts.targets,
            checks=parts.runner.checks,
            escalations=parts.escalations,
            auto_approval_switch=parts.auto_approval,
        )
        self.gate = ApprovalGate(
            approvals=parts.approvals, runner=parts.runner, publisher=parts.publisher
        )
        self._last_read: Noted | None = None  # what this process's last note read

    # -- entry points ----------------------------------------------------------------------

    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool = False) -> RemediationRecord | None:
        """The anomaly's decision, recorded; None when an earlier delivery took it (or is
        settled by the recovery of its run). A record settles the anomaly among those sent
        (:mod:`..stores.dispatched`); without one, so does this."""
        record = self._handle(anomaly, dry_run)
        if record is None:
            self.parts.dispatched.forget([member(anomaly.event_id)])
        return record

    def _handle(self, anomaly: AnomalyEvent, dry_run: bool) -> RemediationRecord | None:
        if dry_run:
            # A dry-run anomaly (``POST /remediation/test``) reads what else is anomalous on
            # its resource without noting itself there: it must not make a real anomaly match
            # a rule (``also_anomalous``) it would not match otherwise.
            engine = self.parts.rules.engine()
            context = EngineContext(self.parts.recent.read(anomaly), self.parts.auto_shadow.names())
            evaluation = engine.evaluate(anomaly, context)
        else:
            noted = self._noted_evaluation(anomaly)
            if isinstance(noted, _Decided):
                return noted.record
            engine, evaluation = noted
        for shadow in evaluation.shadow:
            self._shadow(anomaly, shadow, engine, dry_run)
        live = evaluation.live
        if live is None:
            return self._no_action(anomaly, evaluation.no_match_reason)
        choice = self.choose(anomaly, live, engine)
        if choice.refusal is not None:
            claim = self._claim(anomaly.event_id, choice.candidate.action)
            return None if claim is None else self._refused(anomaly, live, choice, claim)
        request = self.build_request(anomaly, live, choice, engine, dry_run)
        # The claim, then the decision's reads, in one atomic step.
        acquired, lookups = self.lookups.claim_and_read(
            self.parts.claims, self.parts.steps, request
        )
        return self._claimed(anomaly, live, request, engine, acquired, lookups)

    def _noted_evaluation(
        self, anomaly: AnomalyEvent
    ) -> _Decided | tuple[RemediationEngine, Evaluation]:
        """The anomaly noted among its resource's recent ones and the rules' evaluation of it;
        or the decision itself, when the guess held (:meth:`_guess`)."""
        guessed = self._guess(anomaly, dry_run=False)
        if isinstance(guessed, _Decided):
            return guessed
        if guessed is not None and guessed.noted is not None:
            noted = guessed.noted  # the guess's script noted the anomaly and read this
        else:
            noted = self._note_and_read(anomaly)
        if guessed is not None and _as_assumed(noted, guessed.assumed):
            return guessed.engine, guessed.evaluation  # it holds: not again
        engine = self.parts.rules.engine_for(noted.rules_version)
        return engine, engine.evaluate(anomaly, EngineContext(noted.recent, noted.shadowed))

    def _guess(self, anomaly: AnomalyEvent, dry_run: bool) -> _Decided | _Tried | None:
        """Most anomalies find the rules version and the rules in shadow mode as the last
        decision of this process read them, and their resource with no other recent anomaly:
        the request is built on that guess, and the note, the claim and the decision's reads
        are taken in one atomic step, which goes on to the claim only if it read what the guess
        assumed (:meth:`DecisionSteps.note_claim_and_peek`). Else the decision's steps are
        taken one by one, with the guess's evaluation when the note read what it assumed
        (:class:`_Tried`; nothing is sent for a rule in shadow mode or none matching, or a
        refusal before the claim). None: nothing guessed (no earlier read, or targets that
        ask AWS, which are asked once per decision only)."""
        last = self._last_read
        if last is None or last.rules_version is None or self.parts.targets.aws is not None:
            return None
        engine = self.parts.rules.cached(last.rules_version)
        if engine is None:
            return None
        assumed = Noted(frozenset(), last.rules_version, last.shadowed)
        evaluation = engine.evaluate(anomaly, EngineContext(assumed.recent, assumed.shadowed))
        live = evaluation.live
        tried = _Tried(assumed, engine, evaluation)
        if live is None or evaluation.shadow:
            return tried
        choice = self.choose(anomaly, live, engine)
        if choice.refusal is not None:
            return tried
        request = self.build_request(anomaly, live, choice, engine, dry_run)
        taken = self.lookups.note_claim_and_read(
            self.parts.claims, self.parts.steps, anomaly, assumed, request
        )
        if taken is None:
            return tried
        if isinstance(taken, Noted):
            self._last_read = taken
            return replace(tried, noted=taken)
        acquired, lookups = taken
        return _Decided(self._claimed(anomaly, live, request, engine, acquired, lookups))

    def _claimed(
        self,
        anomaly: AnomalyEvent,
        live: Recommendation,
        request: ActionRequest,
        engine: RemediationEngine,
        acquired: Claim,
        lookups: RequestLookups,
    ) -> RemediationRecord | None:
        """The live decision once its claim is taken with its reads."""
        claim = self._unless_settled(acquired)
        if claim is None:
            return None
        if claim.state is ClaimState.ABANDONED:
            return self._recover(request, claim)
        streak: Streak | None = None
        if live.rule.debounced:
            # A dry-run anomaly (``POST /remediation/test``) only peeks at the streak: it must
            # not bring a real anomaly of the series closer to acting.
            debouncer = self.parts.debouncer
            observe = debouncer.peek if request.dry_run else debouncer.observe
            streak = observe(live.rule, anomaly)
        decision = self.decide(
            request,
            live.approval,
            engine,
            debounce_satisfied=streak is None or streak.satisfied(live.rule),
            lookups=lookups,
        )
        if decision.next is Next.WAIT:
            assert streak is not None
            return self._wait(anomaly, request, live, streak, claim)
        return self._act(request, decision, claim, lookups.prepared)

    def _note_and_read(self, anomaly: AnomalyEvent) -> Noted:
        """Notes the anomaly among the resource's recent ones and reads what the rules engine
        needs (the rules in force, the other recent anomalies, the rules in shadow mode) in
        one script: one round trip."""
        noted = self.parts.steps.note_and_read(anomaly)
        self._last_read = noted
        return noted

    def recheck(self, anomaly: AnomalyEvent, rule_name: str) -> RemediationRecord | None:
        """A debounced rule's time is up: act if the condition still holds. A record settles
        the re-check among those sent (:mod:`..stores.dispatched`); without one, so does this."""
        record = self._recheck(anomaly, rule_name)
        if record is None:
            self.parts.dispatched.forget([member(anomaly.event_id, rule_name)])
        return record

    def _recheck(self, anomaly: AnomalyEvent, rule_name: str) -> RemediationRecord | None:
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
        return self._act(request, self.decide(request, live.approval, engine), claim)

    def execute_request(self, request: ActionRequest) -> RemediationRecord | None:
        """:meth:`_execute_request`; a person's request settled without a record here (an
        earlier delivery decided it) is forgotten among those sent, as an anomaly is. An
        approved action is forgotten there once its task has settled it, record or not: its
        records name its anomaly, not the approval it is noted under."""
        record = self._execute_request(request)
        if record is None or request.approval_id:
            self.parts.dispatched.forget([member(request.subject_id)])
        return record

    def _execute_request(self, request: ActionRequest) -> RemediationRecord | None:
        """A manual request, or an approved one. A manual request takes the decision path of
        every other: its target resolved, then the core's decision (safety checks peeked, risk
        tiers, production-critical tags with M-of-N, escalations, auto-approval). An approved
        one has passed the gate: its target is resolved again (tags may have changed since);
        a target that became production-critical waits for the people the policy asks of
        such targets if fewer approved it, and the safety checks decide."""
        # The rules in force before the claim: a worker that cannot read them decides
        # nothing (RulesUnreadableError; the task is tried again later) and holds no claim.
        engine = self.parts.rules.engine()
        claim = self._claim(request.subject_id, request.action)
        if claim is None:
            return None
        if claim.state is ClaimState.ABANDONED:
            if not request.approval_id:
                return self._recover(request, claim)
            if self.parts.runner.reserved_ever(request.run_id):
                self.parts.approvals.mark_claimed(request.approval_id)
                return self.parts.runner.recover(request, claim)
            # The attempt that died had reserved nothing, so it sent nothing: the approved
            # action starts as it would have, within its start window.
            log.warning("approved_action_resumed", approval_id=request.approval_id)
        if request.approval_id:
            # A lapse found here is this worker's to record (approval_decisions).
            with self.parts.approvals.owing(request.approval_id, "lapse"):
                started = self.parts.approvals.start(request)
                if started != "start":
                    return self._lapsed(request, claim, recorded=started == "settled")
        resolved = self.resolve(request, engine)
        if isinstance(resolved, Refusal):
            return self.parts.runner.refuse(request, claim, resolved.check, resolved.detail)
        if request.approval_id:
            withdrawn = self._rule_withdrawn(request, engine)
            if withdrawn is not None:
                return self.parts.runner.refuse(resolved, claim, "rule_withdrawn", withdrawn)
            more = self.approvals_now_needed(resolved, engine)
            if more is not None:
                return self.gate.ask(_unapproved(resolved), more, claim)
            return self.parts.runner.execute(resolved, claim)
        return self._act(resolved, self.decide(resolved, self.manual_need(resolved), engine), claim)

    def _rule_withdrawn(self, request: ActionRequest, engine: RemediationEngine) -> str | None:
        """Why the rule that asked for an approved action would not ask now (None: it
        would): removed from the rules file, in shadow mode (by the file, or switched
        automatically because its actions did not help), no longer covering the anomaly
        (its metric, resource, labels or severity), or no longer proposing this action, since
        the approval was asked. People approved what the rule proposed; a rule taken out of
        service, narrowed, or changed to propose something else, takes its proposals with
        it. A person's own request has no rule and is not affected."""
        name = request.rule
        if not name:
            return None
        rule = _rule_named(engine, name)
        if rule is None:
            return f"rule {name} is no longer in the rules file: nothing done"
        if rule.mode == "shadow":
            return f"rule {name} is in shadow mode now: nothing done"
        if name in self.parts.auto_shadow.names():
            return (
                f"rule {name} was switched to shadow mode (its actions did not improve "
                "anything): nothing done"
            )
        incident = request.incident
        miss = scope_miss(
            rule, incident.metric, incident.resource_id, incident.labels, incident.severity
        )
        if miss is not None:
            return f"rule {name} no longer covers this anomaly ({miss}): nothing done"
        if all(step.action != request.action for step in rule.actions):
            return f"rule {name} no longer proposes {request.action}: nothing done"
        return None

    def _lapsed(
        self, request: ActionRequest, claim: Claim, *, recorded: bool
    ) -> RemediationRecord | None:
        """An approved action that did not start within ``approved_start_within_s`` of its
        approval: never run. Recorded ``expired`` unless the sweep did already."""
        approval_id = request.approval_id
        log.warning("approved_action_lapsed", approval_id=approval_id, recorded=recorded)
        if recorded:
            claim.finish()
            return None
        approvals = self.parts.approvals
        try:
            decided_at = approvals.get(approval_id).decided_at if approval_id else None
        except ApprovalNotFoundError:
            decided_at = None
        record = lapsed_record(request, decided_at, approvals.start_within_s, self.executor_name)
        return self._publish(record, claim)

    # -- the decision (the same for the dry evaluation and manual requests) ----------------

    def choose(
        self, anomaly: AnomalyEvent, live: Recommendation, engine: RemediationEngine
    ) -> Choice:
        return choose(
            anomaly,
            live,
            policy=engine.policy,
            limits=self.parts.runner.safety.limits,
            accounts=self.parts.accounts,
            lookups=self.lookups,
        )

    def build_request(
        self,
        anomaly: AnomalyEvent,
        live: Recommendation,
        choice: Choice,
        engine: RemediationEngine,
        dry_run: bool,
    ) -> ActionRequest:
        return build_request(anomaly, live, choice, engine.policy, dry_run=dry_run)

    def decide(
        self,
        request: ActionRequest,
        need: ApprovalNeed,
        engine: RemediationEngine,
        *,
        debounce_satisfied: bool = True,
        lookups: Lookups | None = None,
    ) -> Decision:
        """``lookups``: the request's reads taken already (else they are taken now)."""
        return decide(
            request,
            need,
            policy=engine.policy,
            lookups=lookups or self.lookups.for_request(request),
            debounce_satisfied=debounce_satisfied,
        )

    def approvals_now_needed(
        self, request: ActionRequest, engine: RemediationEngine
    ) -> ApprovalNeed | None:
        """An approved request that fewer people approved than the rules in force now ask:
        its rule asks more people since (``approvals_required`` raised, or its risk now
        needing approval), or its target is production-critical now (a tag added while it
        waited, or the policy reloaded). The approval it needs now (None: the approvals given
        are enough)."""
        given = {v.person or v.by for v in request.votes if v.decision == "approved"}
        approved = ApprovalNeed(required=True, approvals=len(given), why="approved")
        rule = _rule_named(engine, request.rule) if request.rule else None
        if rule is not None:
            risk = rule.risk or request.risk
            asked = approval_need(rule, risk, request.incident.labels, engine.policy)
            if asked.required and asked.approvals > len(given):
                approved = asked
        need = approval_for(request, approved, engine.policy, None)
        if need.approvals <= len(given):
            return None
        return replace(
            need,
            why=f"{need.why} since it was approved by {len(given)} "
            f"{'person' if len(given) == 1 else 'people'}",
        )

    def manual_need(self, request: ActionRequest) -> ApprovalNeed:
        """A person's request: the policy's risk tiers decide (no rule, no anomaly labels)."""
        return approval_need(None, request.risk, {}, self.parts.rules.engine().policy)

    def resolve(
        self, request: ActionRequest, engine: RemediationEngine | None = None
    ) -> ActionRequest | Refusal:
        """The request with its target resolved, or why it cannot be. Its AWS account is
        checked again, the deny list in force now added to the one it was made with, and its
        cooldown and blast radius made the stricter of its own and those in force now (the
        settings or rules may have changed while it waited for people or in the queue: a
        reload can add a refusal to a waiting action, never lift one). ``engine``: the rules
        in force, when the caller read them already."""
        try:
            place = self.parts.accounts.place(request.aws_account, request.aws_region)
            resolved = self.parts.targets.resolve(request.target, place)
        except AccountRefused as exc:
            return Refusal(exc.check, exc.detail)
        except TargetError as exc:
            return Refusal("no_target", str(exc))
        engine = engine or self.parts.rules.engine()
        policy = engine.policy
        denied = tuple(dict.fromkeys((*request.denied_targets, *policy.deny_targets)))
        rule = _rule_named(engine, request.rule) if request.rule else None
        cooldown_s = self.parts.runner.safety.limits.cooldown_s
        return limits_in_force(request, rule, policy, cooldown_s).model_copy(
            update={
                "target": resolved.target,
                "target_names": resolved.names,
                "target_instances": resolved.instances,
                "denied_targets": denied,
            }
        )

    # -- acting on it ----------------------------------------------------------------------

    def _act(
        self,
        request: ActionRequest,
        decision: Decision,
        claim: Claim,
        prepared: Prepared | None = None,
    ) -> RemediationRecord | None:
        """``prepared``: ``request`` past the static checks, when the decision took them.
        None: its run was taken over before it was sent, and settled by whoever took it."""
        if decision.next is Next.BLOCKED:
            assert decision.refusal is not None
            refusal = decision.refusal
            return self.parts.runner.refuse(request, claim, refusal.check, refusal.detail)
        if decision.next is Next.ASK:
            return self.gate.ask(request, decision.need, claim)
        if decision.next is Next.DRY_RUN:
            # Nothing runs, so nothing is reserved: the decision's peek of the atomic step
            # (this attempt's, just now) found every check passing and dry-run on.
            return self.parts.runner.describe_dry_run(request, claim, prepared)
        if decision.auto_approved:
            decided_by = f"auto-approval ({self.parts.auto_approval.name})"
            request = request.model_copy(update={"decided_by": decided_by})
        # RUN: the runner takes the atomic safety reservation (or peeks, a dry-run request).
        return self.parts.runner.execute(request, claim)

    def _claim(
        self, subject: uuid.UUID, action: str | None, *, resume_waiting: bool = False
    ) -> Claim | None:
        claim = self.parts.claims.acquire(subject, action, resume_waiting=resume_waiting)
        return self._unless_settled(claim)

    def _unless_settled(self, claim: Claim) -> Claim | None:
        """The claim, unless an earlier delivery settled it (done, or waiting to re-check)."""
        if claim.state in (ClaimState.DONE, ClaimState.WAITING):
            log.info("duplicate_delivery_skipped", claim=claim.key, state=claim.state.value)
            return None
        return claim

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
            blocked_by=DEBOUNCE_WAIT,
        )
        wait_s = streak.wait_s(live.rule)
        if wait_s is None or request.dry_run:
            # More anomaly events are needed, a later one decides; or a dry-run anomaly, which
            # is never re-checked (the re-check would decide as a live one).
            return self._publish(record, claim)
        # The claim waits and the re-check is noted ahead of the record, in its round trip:
        # the record settles the anomaly among those sent, and a record written means the
        # re-check is noted, for the sweep to send when due if no record follows (the worker
        # holding it until its countdown ends may die whole). Apart, a worker dying between
        # them left the anomaly settled and a claim nothing would re-check, and the rule never
        # acted.
        due_ms = int((time.time() + wait_s) * 1000)
        rule = live.rule.name
        waiting = [
            *self.parts.claims.waiting_commands(claim),
            *recheck_commands(anomaly, rule, due_ms),
        ]
        self.parts.publisher.publish(record, before=waiting)
        self.parts.scheduler.recheck(anomaly, rule, wait_s)
        return record

    def _shadow(
        self,
        anomaly: AnomalyEvent,
        shadow: Recommendation,
        engine: RemediationEngine,
        dry_run: bool,
    ) -> None:
        choice = self.choose(anomaly, shadow, engine)
        claim = self._claim(anomaly.event_id, f"shadow-{shadow.rule.name}")
        if claim is None:
            return
        if shadow.rule.debounced:
            # A self-test only peeks, as for a live rule (:meth:`_claimed`): the streak is the
            # rule's for the series, and stays its own once the rule is made live.
            debouncer = self.parts.debouncer
            streak = (debouncer.peek if dry_run else debouncer.observe)(shadow.rule, anomaly)
            if not streak.satisfied(shadow.rule):
                claim.finish()
                log.info("shadow_rule_waiting", rule=shadow.rule.name)
                return
        candidate = choice.candidate
        refusal = choice.refusal
        outcome = f"would have run: {candidate.describe()}"
        if refusal is None:
            request = self.build_request(anomaly, shadow, choice, engine, dry_run=True)
            refusal = self.decide(request, shadow.approval, engine).refusal
        if refusal is not None:
            outcome = (
                f"would have been blocked by {refusal.check.replace('_', ' ')}: {refusal.detail}"
            )
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
        candidate = choice.candidate
        record = incident_record(
            Incident.from_anomaly(anomaly),
            RemediationStatus.BLOCKED,
            f"{choice.refusal.detail} ({live.reason})",
            action=candidate.action,
            executor=self.executor_name,
            blocked_by=choice.refusal.check,
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


@dataclass(frozen=True)
class _Decided:
    """A guess held: the decision was taken (``record``: None for a settled duplicate)."""

    record: RemediationRecord | None


@dataclass(frozen=True)
class _Tried:
    """A guess taken no further: its evaluation, and what its script's note read instead of
    what it assumed (None: nothing was sent, nothing claimed)."""

    assumed: Noted
    engine: RemediationEngine
    evaluation: Evaluation
    noted: Noted | None = None


def _unapproved(request: ActionRequest) -> ActionRequest:
    """An approved request as it waits for people again: no approver yet."""
    return request.model_copy(update={"decided_by": None, "votes": ()})


def _as_assumed(noted: Noted, assumed: Noted) -> bool:
    return (noted.rules_version, noted.recent, noted.shadowed) == (
        assumed.rules_version,
        assumed.recent,
        assumed.shadowed,
    )


def _shadow_name(shadow: Recommendation) -> str:
    if shadow.demoted:
        return f"rule {shadow.rule.name} (in shadow mode: its actions did not improve anything)"
    return f"shadow rule {shadow.rule.name}"


def _rule_named(engine: RemediationEngine, name: str) -> Rule | None:
    """The rule of that name in the rules in force (live or shadow), if any."""
    return next((rule for rule in engine.loaded.rules.rules if rule.name == name), None)
