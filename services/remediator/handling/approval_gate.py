"""Whether a decided action runs now or waits for people, and asking them.

A person must approve when the rule, the risk or the anomaly's labels say so, or when the target
is escalated (the last action on it did not improve its metric: then auto-approval does not
apply either). In dry-run nobody is asked. Before asking, the safety checks are peeked, so
nothing is asked that would be refused anyway.

An approval's id is derived from the request (anomaly x action). So an attempt that died after
creating its approval and before recording it leaves an approval the next attempt finds: that
one withdraws it (approve and reject are then refused) and records ``interrupted``, so nothing
can act on a decision whose record was lost. If a person decided it meanwhile, the records of
that decision tell the story and nothing more is recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

import structlog

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.records import request_record
from services.remediator.core.rules.engine import ApprovalNeed
from services.remediator.core.rules.schema import Policy
from services.remediator.core.safety_policy import critical_match
from services.remediator.handling.runner import ActionRunner
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.claims import Claim
from services.remediator.stores.escalations import Escalations
from shared.events import RemediationRecord, RemediationStatus

log = structlog.get_logger("remediator.approvals")

NOT_ASKED = "not_asked"


def approval_id_for(request: ActionRequest) -> uuid.UUID:
    return uuid.uuid5(request.subject_id, f"approval:{request.action}")


class ApprovalGate:
    def __init__(
        self,
        *,
        approvals: ApprovalStore,
        auto_approval: AutoApprovalSwitch,
        escalations: Escalations,
        runner: ActionRunner,
        publisher: RecordPublisher,
        policy: Callable[[], Policy] = Policy,
    ) -> None:
        self.policy = policy
        self.approvals = approvals
        self.auto_approval = auto_approval
        self.escalations = escalations
        self.runner = runner
        self.publisher = publisher

    def need_for(self, request: ActionRequest, need: ApprovalNeed) -> tuple[ApprovalNeed, bool]:
        """The approval this request needs, and whether it is escalated. A target whose
        resolved tags are production-critical needs the policy's number of people, whoever
        asked and whatever the anomaly's labels said."""
        policy = self.policy()
        if critical_match(policy.critical_labels, request.names):
            approvals = max(need.approvals, policy.critical_approvals_required)
            if not need.required or approvals > need.approvals:
                why = "the target is tagged production-critical"
                need = replace(need, required=True, approvals=approvals, why=why)
        escalated = self.escalations.reason(request)
        if escalated is None:
            return need, False
        why = f"escalated: {escalated}"
        return replace(need, required=True, approvals=max(need.approvals, 1), why=why), True

    def decide(self, request: ActionRequest, need: ApprovalNeed, claim: Claim) -> RemediationRecord:
        need, escalated = self.need_for(request, need)
        if need.required and not (request.dry_run or self.runner.safety.dry_run()):
            if escalated or not self.auto_approval.enabled():
                return self.ask(request, need, claim)
            request = request.model_copy(
                update={"decided_by": f"auto-approval ({self.auto_approval.name})"}
            )
        return self.runner.execute(request, claim)

    def ask(self, request: ActionRequest, need: ApprovalNeed, claim: Claim) -> RemediationRecord:
        executor = self.runner.executor.name
        _job, check, detail = self.runner.precheck(request)
        if check is not None:
            return self.runner.refuse(request, claim, check, detail)
        approval_uuid = approval_id_for(request)
        waiting = request.model_copy(
            update={
                "subject_id": approval_uuid,
                "approval_id": approval_uuid.hex,
                "automatic": False,
            }
        )
        approval = self.approvals.create(
            waiting, required=need.approvals, why=need.why, approval_id=approval_uuid.hex
        )
        people = "one person" if need.approvals == 1 else f"{need.approvals} different people"
        record = request_record(
            request,
            RemediationStatus.PENDING_APPROVAL,
            f"{need.why}: waits for {people} to approve ({request.reason})",
            executor=executor,
            approval_id=approval.id,
            expires_at=approval.expires_at,
        )
        return self._publish(record, claim)

    def recover(self, request: ActionRequest, claim: Claim) -> RemediationRecord | str | None:
        """An earlier attempt died: if it had asked for approval, withdraw the request (or, if
        someone decided it meanwhile, leave it be). NOT_ASKED: it had not asked."""
        approval_id = approval_id_for(request).hex
        outcome = self.approvals.withdraw(approval_id)
        if outcome == "not_found":
            return NOT_ASKED
        if outcome != "withdrawn":
            log.info("approval_already_decided", approval_id=approval_id, state=outcome)
            claim.finish()
            return None
        reason = (
            f"an earlier attempt asked for approval {approval_id} and stopped before recording "
            "it; the approval request is withdrawn (it can no longer be approved) and nothing "
            "was run; a new anomaly asks again"
        )
        record = request_record(
            request,
            RemediationStatus.INTERRUPTED,
            reason,
            executor=self.runner.executor.name,
            approval_id=approval_id,
        )
        return self._publish(record, claim)

    def _publish(self, record: RemediationRecord, claim: Claim) -> RemediationRecord:
        self.publisher.publish(record, done_claim=claim.key, claim_ttl_s=claim.claims.ttl_s)
        return record
