"""What the core's decision reads of the world, answered by the stores and AWS: targets resolved
in AWS, the safety checks peeked, escalated targets, the auto-approval switch, dry-run. Only
reads: the decision changes nothing (see :mod:`..core.decision`).

:meth:`WorldLookups.for_request` reads what a decision asks about one request (its escalation
flags and the peek of the atomic safety step, which also says whether dry-run is on) in one
Redis round trip, before the decision asks; :meth:`WorldLookups.claim_and_read` takes the
claim with them, in one script."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.target_resolution import TargetResolver
from services.remediator.core.accounts import AwsPlace
from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.safety_policy import Refusal
from services.remediator.core.targets import ResolvedTarget, Target
from services.remediator.handling.safety_checks import Precheck, Prepared, SafetyChecks, outcome
from services.remediator.stores.claims import Claim, Claims
from services.remediator.stores.decision_steps import DecisionSteps, Noted
from services.remediator.stores.escalations import Escalations, reason_from
from shared.events import AnomalyEvent


@dataclass(frozen=True)
class WorldLookups:
    targets: TargetResolver
    checks: SafetyChecks
    escalations: Escalations
    auto_approval_switch: AutoApprovalSwitch

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        return self.targets.resolve(target, place)

    def refusal(self, request: ActionRequest) -> Refusal | None:
        return self.checks.precheck(request).refusal

    def escalation(self, request: ActionRequest) -> str | None:
        return self.escalations.reason(request)

    def auto_approval(self) -> bool:
        return self.auto_approval_switch.enabled()

    def dry_run(self) -> bool:
        return self.checks.safety.dry_run()

    def for_request(self, request: ActionRequest) -> RequestLookups:
        """The lookups of a decision about ``request``, its Redis reads taken together."""
        prepared = self.checks.prepare(request)
        if isinstance(prepared, Refusal):  # refused before the atomic step: nothing to peek
            return RequestLookups(
                self, request, self.escalation(request), Precheck(prepared, prepared.detail)
            )
        return self._read(request, prepared)

    def claim_and_read(
        self, claims: Claims, steps: DecisionSteps, request: ActionRequest
    ) -> tuple[Claim, RequestLookups]:
        """Acquires the claim on ``request``'s subject x action (:meth:`Claims.acquire`,
        raising ``ClaimBusyError`` alike) and takes the decision's reads in the same atomic
        step (:meth:`DecisionSteps.claim_and_peek`). The reads change nothing: a duplicate
        delivery only wasted them."""
        prepared = self.checks.prepare(request)
        if isinstance(prepared, Refusal):
            claim = claims.acquire(request.subject_id, request.action)
            return claim, self.for_request(request)
        peeked = steps.claim_and_peek(
            claims,
            request.subject_id,
            request.action,
            self.escalations.flags(request),
            self.checks.safety,
            prepared.checks,
        )
        lookups = RequestLookups(
            self, request, reason_from(peeked.flags), outcome(peeked.verdict), prepared
        )
        return peeked.claim, lookups

    def note_claim_and_read(
        self,
        claims: Claims,
        steps: DecisionSteps,
        anomaly: AnomalyEvent,
        assumed: Noted,
        request: ActionRequest,
    ) -> tuple[Claim, RequestLookups] | Noted | None:
        """:meth:`claim_and_read` in the same atomic step as the anomaly's note
        (:meth:`DecisionSteps.note_claim_and_peek`), for a request built on what ``assumed``
        says was read. Answers what was read instead when that does not hold (nothing
        claimed), and None, sending nothing, when the static checks refuse the request."""
        prepared = self.checks.prepare(request)
        if isinstance(prepared, Refusal):
            return None
        peeked = steps.note_claim_and_peek(
            anomaly,
            assumed,
            claims,
            request.subject_id,
            request.action,
            self.escalations.flags(request),
            self.checks.safety,
            prepared.checks,
        )
        if isinstance(peeked, Noted):
            return peeked
        lookups = RequestLookups(
            self, request, reason_from(peeked.flags), outcome(peeked.verdict), prepared
        )
        return peeked.claim, lookups

    def _read(self, request: ActionRequest, prepared: Prepared) -> RequestLookups:
        safety = self.checks.safety
        with safety.redis.pipeline(transaction=False) as pipe:
            pipe.mget(self.escalations.flags(request))
            read_peek = safety.queue_peek(pipe, prepared.checks)
            flags, peeked = pipe.execute(raise_on_error=False)
        if isinstance(flags, Exception):
            raise flags
        if isinstance(peeked, redis.exceptions.NoScriptError):
            safety.load_scripts()  # Redis restarted since: load it and peek again
            verdict = safety.peek(prepared.checks)
        elif isinstance(peeked, Exception):
            raise peeked
        else:
            verdict = read_peek(peeked)
        return RequestLookups(self, request, reason_from(flags), outcome(verdict), prepared)


@dataclass(frozen=True)
class RequestLookups:
    """A decision's lookups with one request's reads already taken (same values as asking
    :class:`WorldLookups` at that moment); questions about another request are passed on."""

    world: WorldLookups
    request: ActionRequest
    escalated: str | None
    precheck: Precheck
    prepared: Prepared | None = None  # the request past the static checks (None: refused)

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        return self.world.resolve(target, place)

    def refusal(self, request: ActionRequest) -> Refusal | None:
        if request is self.request:
            return self.precheck.refusal
        return self.world.refusal(request)

    def escalation(self, request: ActionRequest) -> str | None:
        if request is self.request:
            return self.escalated
        return self.world.escalation(request)

    def auto_approval(self) -> bool:
        return self.world.auto_approval()

    def dry_run(self) -> bool:
        if self.precheck.dry_run is not None:  # the atomic step read the switch
            return self.precheck.dry_run
        return self.world.dry_run()
