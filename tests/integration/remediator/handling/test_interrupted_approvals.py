"""A worker that dies after asking for approval and before recording it: the redelivery records
``interrupted`` and withdraws the approval, so nothing can act on the lost decision; unless a
person decided it meanwhile, and then that decision stands."""

from __future__ import annotations

import pytest

from services.remediator.background import sweep_once
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import ApprovalConflictError
from services.remediator.handling.approval_gate import approval_id_for
from services.remediator.stores import redis_keys
from services.remediator.stores.claims import Claim
from shared.events import AnomalyEvent, RemediationStatus, Severity
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: scale-in
    match: {metric: idle_ratio, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""


def died_after_asking(h: Harness, event: AnomalyEvent) -> tuple[Claim, ActionRequest, str]:
    """What a worker leaves when it dies between creating the approval and recording it."""
    parts = h.workflow.parts
    claim = parts.claims.acquire(event.event_id, "scale_in")
    engine = parts.rules.engine()
    live = engine.evaluate(event).live
    assert live is not None and live.approval.required
    request = h.workflow.build_request(
        event, live, h.workflow.choose(event, live, engine), engine, dry_run=False
    )
    approval_id = approval_id_for(request).hex
    waiting = request.model_copy(
        update={"subject_id": approval_id_for(request), "approval_id": approval_id}
    )
    parts.approvals.create(waiting, required=1, why="high risk", approval_id=approval_id)
    h.client.delete(redis_keys.lease(claim.key))  # the worker is gone
    return claim, request, approval_id


def test_the_redelivery_records_interrupted_and_the_approval_cannot_be_approved(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="dry-run")
    event = anomaly(metric="idle_ratio", severity=Severity.LOW)
    _claim, _request, approval_id = died_after_asking(h, event)
    assert [a.id for a in h.remediator.approvals.pending()] == [approval_id]

    record = h.workflow.handle(event)  # the task is delivered again
    assert record is not None and record.status == RemediationStatus.INTERRUPTED
    assert record.approval_id == approval_id
    assert "the approval request is withdrawn (it can no longer be approved)" in record.reason
    assert h.workflow.handle(event) is None  # and only once

    with pytest.raises(ApprovalConflictError, match="was withdrawn"):
        h.remediator.decisions.approve(approval_id, "ana")
    with pytest.raises(ApprovalConflictError, match="was withdrawn"):
        h.remediator.decisions.reject(approval_id, "ben")
    assert h.remediator.approvals.pending() == []
    assert h.remediator.approvals.get(approval_id).state == "withdrawn"
    assert sweep_once(h.remediator)["expired"] == 0
    assert h.work.executions == []
    assert [r.status for r in h.records()] == [RemediationStatus.INTERRUPTED]


def test_an_approval_decided_before_the_redelivery_stands(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="dry-run")
    event = anomaly(metric="idle_ratio", severity=Severity.LOW)
    _claim, _request, approval_id = died_after_asking(h, event)
    assert h.remediator.decisions.approve(approval_id, "ana").complete  # seen in the API list
    assert h.workflow.handle(event) is None  # nothing more to record: the approval goes on
    (request,) = h.work.executions
    executed = h.workflow.execute_request(request)
    assert executed is not None and executed.status == RemediationStatus.DRY_RUN
    assert [r.status for r in h.records()] == [
        RemediationStatus.APPROVED,
        RemediationStatus.DRY_RUN,
    ]


def test_approval_ids_derive_from_the_request_so_asking_twice_keeps_one(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="dry-run")
    pending = h.workflow.handle(anomaly(metric="idle_ratio", severity=Severity.LOW))
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    (approval,) = h.remediator.approvals.pending()
    assert approval.id == pending.approval_id
    again = h.remediator.approvals.create(
        approval.request, required=3, why="x", approval_id=approval.id
    )
    assert again == approval
