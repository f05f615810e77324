"""What a verification's outcome leads to, recorded in one step with the claim.

``verified``: a record. ``not_improved``: a record that says so and escalates (the next action
on the target waits for a person, :mod:`..escalations`), and one more count against the rule:
at the policy's ``auto_shadow.after`` within its window the rule is switched to shadow mode,
and a ``rule_shadowed`` record tells the team.
"""

from __future__ import annotations

from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.durations import format_duration
from services.remediator.core.judgement import Judgement
from services.remediator.core.records import incident_record, request_record
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.auto_shadow import AutoShadow, Demotion
from services.remediator.stores.claims import Claim
from services.remediator.stores.escalations import Escalations
from services.remediator.stores.rules import RuleStore
from shared.events import RemediationRecord, RemediationStatus


class VerificationOutcomes:
    def __init__(
        self,
        *,
        publisher: RecordPublisher,
        escalations: Escalations,
        auto_shadow: AutoShadow,
        rules: RuleStore,
        executor_name: str,
    ) -> None:
        self.publisher = publisher
        self.escalations = escalations
        self.auto_shadow = auto_shadow
        self.rules = rules
        self.executor_name = executor_name

    def settle(
        self, request: ActionRequest, metric: str, judgement: Judgement, claim: Claim
    ) -> RemediationRecord:
        assert judgement.outcome is not None
        reason = judgement.reason
        notice: RemediationRecord | None = None
        if judgement.outcome == RemediationStatus.NOT_IMPROVED:
            target = request.target.describe()
            self.escalations.escalate(
                request,
                f"the last action on {target} ({request.action}) did not improve {metric}",
            )
            reason += f"; the next action on {target} waits for a person's approval"
            demotion = self._count_against_rule(request)
            if demotion is not None:
                notice = self._notice(request, demotion, metric)
        record = request_record(
            request,
            judgement.outcome,
            reason,
            executor=self.executor_name,
            observed_metric=metric,
            observed_value=judgement.value,
        )
        records = [record] if notice is None else [record, notice]
        self.publisher.publish_many(records, done_claim=claim.key, claim_ttl_s=claim.claims.ttl_s)
        return record

    def _count_against_rule(self, request: ActionRequest) -> Demotion | None:
        if request.rule is None:
            return None
        policy = self.rules.engine().policy.auto_shadow
        if not policy:
            return None
        return self.auto_shadow.count_not_improved(
            request.rule, request.run_id, after=policy.after, window_s=policy.window
        )

    def _notice(self, request: ActionRequest, demotion: Demotion, metric: str) -> RemediationRecord:
        rule = demotion.rule
        reason = (
            f"rule {rule} switched to shadow mode: {demotion.not_improved} of its actions did "
            f"not improve their metric within {format_duration(demotion.window_s)} (the last: "
            f"{request.action} on {request.target.describe()}, {metric}); it records what it "
            f"would do and acts no more until an admin resets it "
            f"(POST /rules/{rule}/auto-shadow/reset)"
        )
        return incident_record(
            request.incident,
            RemediationStatus.RULE_SHADOWED,
            reason,
            action=request.action,
            executor=self.executor_name,
            subject=request.subject_id,
            rule=rule,
            risk=request.risk.value,
            target=request.target.key,
            run_id=request.run_id,
        )
