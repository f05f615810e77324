"""Every approval given is kept with its approval and named in the records of the decision, the
action sent to a worker and its expiry; an approval stored before votes were kept still loads,
and the approvers it stored stay named."""

from __future__ import annotations

import redis

from services.remediator.stores import redis_keys
from shared.events import RemediationStatus, Severity
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

TWO_PEOPLE = """\
version: 1
policy:
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
rules:
  - name: scale-in
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""
CRITICAL = {"criticality": "production-critical"}


def test_an_approval_stored_before_votes_were_kept_still_names_its_first_approver(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(TWO_PEOPLE)
    pending = h.workflow.handle(anomaly(metric="idle_a", severity=Severity.LOW, labels=CRITICAL))
    assert pending is not None and pending.approval_id
    decisions = h.remediator.decisions
    decisions.approve(pending.approval_id, "ana", "looks idle", via="slack")
    # as an older remediator left it: the approver's name and person, no votes
    sync_redis.hdel(redis_keys.approval(pending.approval_id), "votes")
    old = h.remediator.approvals.get(pending.approval_id)
    assert [(v.by, v.person, v.via, v.at) for v in old.votes] == [("ana", "ana", None, None)]

    assert decisions.approve(pending.approval_id, "ben", via="api_key").complete
    (approved,) = [r for r in h.records() if r.status == RemediationStatus.APPROVED]
    assert [(v.by, v.via) for v in approved.votes] == [("ana", None), ("ben", "api_key")]
    assert approved.votes[1].at is not None and approved.decided_by == "ana, ben"
    assert approved.reason.startswith("approved by ana, ben via API key at ")
    (request,) = h.work.executions
    assert [v.by for v in request.votes] == ["ana", "ben"]


def test_an_expiry_names_who_had_approved(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(TWO_PEOPLE)
    pending = h.workflow.handle(anomaly(metric="idle_b", severity=Severity.LOW, labels=CRITICAL))
    assert pending is not None and pending.approval_id
    h.remediator.decisions.approve(pending.approval_id, "ana", via="console")
    sync_redis.zadd(redis_keys.PENDING_APPROVALS, {pending.approval_id: 1})
    sync_redis.hset(redis_keys.approval(pending.approval_id), "expires_at_ms", 1)
    (expired,) = h.remediator.decisions.expire_due()
    assert [v.by for v in expired.votes] == ["ana"]
    (record,) = [r for r in h.records() if r.status == RemediationStatus.EXPIRED]
    assert [(v.by, v.via) for v in record.votes] == [("ana", "console")]
    assert "(1 of 2 approvals: ana via the console at " in record.reason
    assert h.work.executions == []


def test_an_approval_an_older_remediator_counted_meanwhile_keeps_its_place(
    harness: HarnessFactory, anomaly: AnomalyFactory, sync_redis: redis.Redis
) -> None:
    h = harness(TWO_PEOPLE)
    pending = h.workflow.handle(anomaly(metric="idle_c", severity=Severity.LOW, labels=CRITICAL))
    assert pending is not None and pending.approval_id
    h.remediator.decisions.approve(pending.approval_id, "ana", via="chatops")
    # an older remediator's script counts bo without keeping a vote
    key = redis_keys.approval(pending.approval_id)
    sync_redis.hset(key, mapping={"approvers": '["ana", "bo"]', "people": '["ana", "bo"]'})
    votes = h.remediator.approvals.get(pending.approval_id).votes
    assert [(v.by, v.via) for v in votes] == [("ana", "chatops"), ("bo", None)]
