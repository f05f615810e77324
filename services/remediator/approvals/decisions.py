"""Deciding approvals and recording each decision: approve (by whom; at the M-th distinct
approver the action is sent to a worker, through the same safety checks as any other, and an
escalation of its target ends), reject, and expiry (by the sweep, or discovered by a late
click). Each is recorded once."""

from __future__ import annotations

import structlog

from services.remediator.approvals.store import Approval, ApprovalStore, Decision
from services.remediator.audit import RecordPublisher
from services.remediator.errors import ApprovalExpiredError
from services.remediator.escalations import Escalations
from services.remediator.records import request_record
from services.remediator.scheduling import Scheduler
from shared.events import RemediationRecord, RemediationStatus

log = structlog.get_logger("remediator.approvals")


class ApprovalDecisions:
    def __init__(
        self,
        store: ApprovalStore,
        publisher: RecordPublisher,
        scheduler: Scheduler,
        executor_name: str,
        escalations: Escalations | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.scheduler = scheduler
        self.executor_name = executor_name
        self.escalations = escalations

    def approve(
        self, approval_id: str, who: str, comment: str = "", *, person: str | None = None
    ) -> Decision:
        """``who`` is the name shown; ``person`` the identity counted towards M-of-N (the
        API takes it from the gateway, never from a body; in-process callers default it to
        ``who``)."""
        try:
            decision = self.store.approve(approval_id, who, person or who)
        except ApprovalExpiredError as exc:
            if isinstance(exc.approval, Approval):
                self._record_expiry(exc.approval)
            raise
        approval = decision.approval
        if decision.complete:
            request = approval.request.model_copy(update={"decided_by": approval.decided_by})
            note = f"; {comment}" if comment else ""
            self._record(
                approval,
                RemediationStatus.APPROVED,
                f"approved by {approval.decided_by}{note}",
                approval.decided_by,
            )
            if self.escalations is not None:  # a person has looked: the escalation is over
                self.escalations.clear(request)
            self.scheduler.execute(request)
        log.info(
            "approval_given",
            approval_id=approval_id,
            by=who,
            person=person or who,
            complete=decision.complete,
        )
        return decision

    def reject(self, approval_id: str, who: str, comment: str = "") -> Approval:
        try:
            approval = self.store.reject(approval_id, who)
        except ApprovalExpiredError as exc:
            if isinstance(exc.approval, Approval):
                self._record_expiry(exc.approval)
            raise
        note = f": {comment}" if comment else ""
        self._record(approval, RemediationStatus.REJECTED, f"rejected by {who}{note}", who)
        return approval

    def expire_due(self) -> list[Approval]:
        expired = []
        for approval_id in self.store.due():
            approval = self.store.expire(approval_id)
            if approval is not None:
                self._record_expiry(approval)
                expired.append(approval)
        return expired

    def redispatch_stalled(self, older_than_s: float = 60.0) -> int:
        """Approved actions whose execution never started (the API died after approving)."""
        stalled = self.store.approved_unclaimed(int(older_than_s * 1000))
        for approval_id in stalled:
            approval = self.store.get(approval_id)
            self.scheduler.execute(
                approval.request.model_copy(update={"decided_by": approval.decided_by})
            )
        return len(stalled)

    def _record_expiry(self, approval: Approval) -> None:
        waited = approval.expires_at - approval.created_at
        minutes = round(waited.total_seconds() / 60)
        self._record(
            approval,
            RemediationStatus.EXPIRED,
            f"no decision within {minutes} min: approval expired at "
            f"{approval.expires_at:%Y-%m-%d %H:%M:%S} UTC; nothing done",
            None,
        )

    def _record(
        self, approval: Approval, status: RemediationStatus, reason: str, who: str | None
    ) -> RemediationRecord:
        record = request_record(
            approval.request,
            status,
            reason,
            executor=self.executor_name,
            decided_by=who,
            approval_id=approval.id,
        )
        self.publisher.publish(record)
        return record
