"""An approval that lapsed is over: the approvals given before it lapsed count for nothing
afterwards, neither on it nor on the same request asked again, and what waits for people is
the request as it was asked (asking again with other parameters is another approval)."""

from __future__ import annotations

import pytest
import redis

from services.remediator.errors import ApprovalAlreadyExpiredError, ApprovalExpiredError
from services.remediator.stores import redis_keys
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory

RULES = """\
version: 1
policy:
  approval_for_risk: [low, medium, high]
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
rules: []
"""

TARGET: dict[str, object] = {"tags": {"Name": "web-1", "criticality": "production-critical"}}


def pending(h: Harness) -> str:
    record = h.workflow.execute_request(h.ask_cleanup(TARGET))
    assert record is not None and record.status == RemediationStatus.PENDING_APPROVAL
    assert record.approval_id is not None and "2 different people" in record.reason
    return record.approval_id


def lapse(client: redis.Redis, approval_id: str) -> None:
    client.hset(redis_keys.approval(approval_id), "expires_at_ms", 1)


def test_approvals_given_before_a_request_lapsed_count_for_nothing_after(
    harness: HarnessFactory,
) -> None:
    h = harness(RULES, executor="dry-run")
    first = pending(h)
    decisions = h.remediator.decisions
    assert not decisions.approve(first, "bo", person="bo").complete
    lapse(h.client, first)
    with pytest.raises(ApprovalExpiredError):
        decisions.approve(first, "cy", person="cy")
    with pytest.raises(ApprovalAlreadyExpiredError, match="already expired"):
        decisions.approve(first, "dan", person="dan")
    # The same thing asked again waits for two people of its own.
    second = pending(h)
    assert second != first
    assert h.remediator.approvals.get(second).votes == []
    assert not decisions.approve(second, "cy", person="cy").complete
    assert h.work.executions == []
    assert decisions.approve(second, "dan", person="dan").complete
    (request,) = h.work.executions
    assert request.approval_id == second and [v.by for v in request.votes] == ["cy", "dan"]


def test_what_is_approved_is_the_request_as_it_was_asked(harness: HarnessFactory) -> None:
    h = harness(RULES, executor="dry-run")
    asked = h.ask_cleanup(TARGET)
    record = h.workflow.execute_request(asked)
    assert record is not None and record.approval_id is not None
    stored = h.remediator.approvals.get(record.approval_id).request
    changed = asked.model_copy(update={"params": {"paths": ["/var/tmp"]}})
    # A second delivery of the request, whatever it carries, decides nothing again.
    assert h.workflow.execute_request(changed) is None
    assert h.remediator.approvals.get(record.approval_id).request == stored
    for person in ("bo", "cy"):
        h.remediator.decisions.approve(record.approval_id, person, person=person)
    (request,) = h.work.executions
    assert request.params == stored.params == asked.params
