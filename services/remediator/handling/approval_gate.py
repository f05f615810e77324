"""Asking people to approve a decided action, and withdrawing a request an attempt that died
had made.

Whether people must approve is the core's decision (:mod:`..core.decision`: the rule, the
risk, the anomaly's labels, production-critical tags, escalations, auto-approval, dry-run);
this module only asks them, once the decision says so (the safety checks were peeked before,
so nothing is asked that would be refused anyway).

An approval's id is derived from the request (anomaly x action). So an attempt that died after
creating its approval and before recording it leaves an approval the next attempt finds: that
one withdraws it (approve and reject are then refused) and records ``interrupted``, so nothing
can act on a decision whose record was lost. If a person decided it meanwhile, the records of
that decision tell the story and nothing more is recorded.
"""

from __future__ import annotations

import uuid

import structlog

from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.records import request_record
from services.remediator.core.rules.matching import ApprovalNeed, approvers_wanted
from services.remediator.handling.runner import ActionRunner
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.claims import Claim
from shared.events import RemediationRecord, RemediationStatus

log = structlog.get_logger("remediator.approvals")

NOT_ASKED = "not_asked"


def approval_id_for(request: ActionRequest) -> uuid.UUID:
    return uuid.uuid5(request.subject_id, f"approval:{request.action}")


class ApprovalGate:
    def __init__(
        self, *, approvals: ApprovalStore, runner: ActionRunner, publisher: RecordPublisher
    ) -> None:
        self.approvals = approvals
        self.runner = runner
        self.publisher = publisher

    def ask(self, request: ActionRequest, need: ApprovalNeed, claim: Claim) -> RemediationRecord:
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
        people = approvers_wanted(need.approvals, requester=bool(request.requested_by))
        record = request_record(
            request,
            RemediationStatus.PENDING_APPROVAL,
            f"{need.why}: waits for {people} to approve ({request.reason})",
            executor=self.runner.executor.name,
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
