"""Deciding approvals and recording each decision: approve (by whom; at the M-th distinct
approver the action is sent to a worker, through the same safety checks as any other, and an
escalation of its target ends), reject, and expiry (by the sweep, or discovered by a late
click). Each is recorded once, with every vote given so far (who, when, through which channel:
:class:`shared.events.ApprovalVote`); the action sent to a worker carries them too, so the
records of its run name every approver.

A decision is taken in one atomic step and recorded in the next: a process killed in between
would leave it unrecorded for good (no Slack message, an incident pending for ever), since a
retry finds it decided and the sweep no longer sees it. So a note is written before each
decision and removed once its record is; the sweep writes the record of a note left behind
(:meth:`ApprovalDecisions.write_owed`). A record's id is derived from the request and its
status, so a record written twice is one record to every reader."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import structlog

from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.durations import format_duration
from services.remediator.core.records import request_record, votes_described
from services.remediator.errors import ApprovalExpiredError, ApprovalNotFoundError
from services.remediator.handling.scheduling import Scheduler
from services.remediator.stores.approvals import Approval, ApprovalStore, Decision
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.escalations import Escalations
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
        self,
        approval_id: str,
        who: str,
        comment: str = "",
        *,
        person: str | None = None,
        via: str | None = None,
    ) -> Decision:
        """``who`` is the name shown; ``person`` the identity counted towards M-of-N (the
        API takes it from the gateway, never from a body; in-process callers default it to
        ``who``); ``via`` the channel the gateway took it through."""
        with self.store.owing(approval_id, "decide"), self._expiry_recorded():
            decision = self.store.approve(approval_id, who, person or who, via=via, comment=comment)
            approval = decision.approval
            if decision.complete:
                request = _decided(approval)
                self._record_decided(approval)
                if self.escalations is not None:  # a person has looked: the escalation is over
                    self.escalations.clear(request)
                self.scheduler.execute(request)
        log.info(
            "approval_given",
            approval_id=approval_id,
            by=who,
            person=person or who,
            via=via,
            complete=decision.complete,
        )
        return decision

    def reject(
        self,
        approval_id: str,
        who: str,
        comment: str = "",
        *,
        person: str | None = None,
        via: str | None = None,
    ) -> Approval:
        with self.store.owing(approval_id, "decide"), self._expiry_recorded():
            approval = self.store.reject(
                approval_id, who, person=person or who, via=via, comment=comment
            )
            self._record_decided(approval, who)
        return approval

    def write_owed(self, older_than_s: float = 30.0) -> int:
        """Records of decisions whose process stopped before writing them (notes older than
        ``older_than_s``, well past any decision in progress): written now from what the
        store keeps of each approval; how many were written."""
        written = 0
        for note, approval_id, what in self.store.owed(int(older_than_s * 1000)):
            try:
                approval = self.store.get(approval_id)
            except ApprovalNotFoundError:  # no longer kept: nothing to say it with
                self.store.settle(note)
                continue
            except ValueError:  # unreadable: the others are still written
                log.exception("approval_record_owed_unreadable", approval_id=approval_id)
                self.store.settle(note)
                continue
            if what == "lapse":
                if self.store.lapsed(approval_id):
                    self._record_lapse(approval)
                    written += 1
            elif approval.state in ("approved", "rejected", "expired"):
                self._record_decided(approval)
                if approval.state == "approved" and self.escalations is not None:
                    self.escalations.clear(_decided(approval))
                written += 1
            self.store.settle(note)
        if written:
            log.warning("approval_records_written_late", count=written)
        return written

    def _record_decided(self, approval: Approval, who: str | None = None) -> None:
        """The record of a decided approval, from its state (none while it is pending)."""
        decided_by = who or approval.decided_by
        if approval.state == "approved":
            self._record(
                approval,
                RemediationStatus.APPROVED,
                f"approved by {votes_described(approval.votes) or approval.decided_by}",
                approval.decided_by,
            )
        elif approval.state == "rejected":
            approved = [v for v in approval.votes if v.decision == "approved"]
            rejections = [v for v in approval.votes if v.decision == "rejected"]
            reason = f"rejected by {votes_described(rejections[-1:]) or decided_by}"
            if approved:
                reason += f", after approval by {votes_described(approved)}"
            self._record(approval, RemediationStatus.REJECTED, reason, decided_by)
        elif approval.state == "expired":
            self._record_expiry(approval)

    @contextmanager
    def _expiry_recorded(self) -> Iterator[None]:
        """A decision that came too late: the expiry it found is recorded, then it is raised."""
        try:
            yield
        except ApprovalExpiredError as exc:
            if isinstance(exc.approval, Approval):
                self._record_expiry(exc.approval)
            raise

    def expire_due(self) -> list[Approval]:
        expired = []
        for approval_id in self.store.due():
            with self.store.owing(approval_id, "decide"):
                approval = self.store.expire(approval_id)
                if approval is not None:
                    self._record_expiry(approval)
                    expired.append(approval)
        return expired

    def redispatch_stalled(self, older_than_s: float = 60.0) -> int:
        """Approved actions whose execution never started (the API died after approving, or
        the task waits in a busy queue). Each is sent again at most once per ``older_than_s``:
        sending it moves its time in the approved index to now, in one atomic step that also
        makes sure no other replica's sweep sent it meanwhile. One not started within the
        store's ``start_within_s`` of its approval is recorded ``expired`` instead, once, and
        leaves the index; so does, silently, one whose approval is no longer kept."""
        older_than_ms = int(older_than_s * 1000)
        sent = 0
        for approval_id in self.store.approved_unclaimed(0):
            with self.store.owing(approval_id, "lapse"):
                step = self.store.take_due(approval_id, older_than_ms)
                if step == "gone":
                    log.warning("approved_action_forgotten", approval_id=approval_id)
                    continue
                if step not in ("resend", "lapsed"):
                    continue
                try:
                    approval = self.store.get(approval_id)
                except ApprovalNotFoundError:  # expired between the two steps
                    log.warning("approved_action_forgotten", approval_id=approval_id)
                    continue
                if step == "lapsed":
                    self._record_lapse(approval)
                    continue
                self.scheduler.execute(_decided(approval))
                sent += 1
        return sent

    def _record_lapse(self, approval: Approval) -> None:
        self.publisher.publish(
            lapsed_record(
                _decided(approval),
                approval.decided_at,
                self.store.start_within_s,
                self.executor_name,
            )
        )

    def _record_expiry(self, approval: Approval) -> None:
        waited = approval.expires_at - approval.created_at
        minutes = round(waited.total_seconds() / 60)
        given = (
            f" ({len(approval.votes)} of {approval.required} approvals: "
            f"{votes_described(approval.votes)})"
            if approval.votes
            else ""
        )
        self._record(
            approval,
            RemediationStatus.EXPIRED,
            f"no decision within {minutes} min{given}: approval expired at "
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
            votes=list(approval.votes),
        )
        self.publisher.publish(record)
        return record


def _decided(approval: Approval) -> ActionRequest:
    """The approved request as it goes to a worker: naming everyone who approved it."""
    return approval.request.model_copy(
        update={"decided_by": approval.decided_by, "votes": tuple(approval.votes)}
    )


def lapsed_record(
    request: ActionRequest, decided_at: datetime | None, within_s: float, executor: str
) -> RemediationRecord:
    """The ``expired`` record of an approved action that did not start within ``within_s`` of
    its approval (approved at ``decided_at``; None: the approval is no longer kept)."""
    by = votes_described(request.votes) or request.decided_by or "its approvers"
    when = f" at {decided_at:%Y-%m-%d %H:%M:%S} UTC" if decided_at is not None else ""
    return request_record(
        request,
        RemediationStatus.EXPIRED,
        f"approved by {by}{when} but not started within {format_duration(within_s)} of its "
        "approval (no worker took it in time): nothing done, the approval no longer holds; "
        "ask again if it is still needed",
        executor=executor,
        id_detail="not_started",
    )
