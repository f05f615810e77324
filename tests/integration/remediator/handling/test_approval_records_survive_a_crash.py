"""A decision on an approval is taken in one atomic step and recorded in the next. A process
killed in between (simulated: the record's write dies, and nothing after it runs) leaves a
note, and the sweep writes the record then: no rejection, expiry, approval or lapse goes
unrecorded (each is what Slack and the history hear of it). A record is written once."""

from __future__ import annotations

from collections import Counter

import pytest
import redis

from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationStatus, Severity
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.integration.remediator.handling.test_workflow import APPROVAL
from tests.support.remediator_fixtures import AnomalyFactory


class Killed(BaseException):
    """The process dies here (kill -9): nothing after this line runs."""


def _die_on_next_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    def die(self: RecordPublisher, *_a: object, **_k: object) -> None:
        raise Killed

    monkeypatch.setattr(RecordPublisher, "publish", die)


def _statuses(h: Harness) -> Counter[RemediationStatus]:
    return Counter(r.status for r in h.records())


def _sweep(h: Harness) -> None:
    """The next API's sweep, once the note is old enough to be a dead process's."""
    h.remediator.decisions.expire_due()
    h.remediator.decisions.redispatch_stalled(0.001)
    h.remediator.decisions.write_owed(0)


def _pending(h: Harness, anomaly: AnomalyFactory, metric: str) -> str:
    """A rule's action waiting for approval: its approval's id."""
    pending = h.workflow.handle(anomaly(metric=metric, severity=Severity.LOW))
    assert pending is not None and pending.approval_id
    return pending.approval_id


def _approved_too_long_ago(h: Harness, anomaly: AnomalyFactory, metric: str) -> ActionRequest:
    """An approved action whose task waited past the start deadline: the task."""
    approval_id = _pending(h, anomaly, metric)
    assert h.remediator.decisions.approve(approval_id, "ana").complete
    (request,) = h.work.executions
    h.work.executions.clear()
    h.client.hset(redis_keys.approval(approval_id), "decided_at_ms", 1)
    return request


def test_a_rejection_whose_record_a_crash_stopped_is_recorded_by_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(APPROVAL)
    approval_id = _pending(h, anomaly, "idle_r")
    _die_on_next_publish(monkeypatch)
    with pytest.raises(Killed):
        h.remediator.decisions.reject(approval_id, "ana", "not now")
    monkeypatch.undo()
    with pytest.raises(Exception, match="already rejected"):  # the person clicks again
        h.remediator.decisions.reject(approval_id, "ana")
    _sweep(h)
    _sweep(h)  # once only
    assert _statuses(h)[RemediationStatus.REJECTED] == 1
    rejected = next(r for r in h.records() if r.status == RemediationStatus.REJECTED)
    assert rejected.reason.startswith("rejected by ana")


def test_an_expiry_whose_record_a_crash_stopped_is_recorded_by_the_sweep(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    monkeypatch: pytest.MonkeyPatch,
    sync_redis: redis.Redis,
) -> None:
    h = harness(APPROVAL)
    approval_id = _pending(h, anomaly, "idle_e")
    sync_redis.zadd(redis_keys.PENDING_APPROVALS, {approval_id: 1})
    sync_redis.hset(redis_keys.approval(approval_id), "expires_at_ms", 1)
    _die_on_next_publish(monkeypatch)
    with pytest.raises(Killed):
        h.remediator.decisions.expire_due()  # the sweep of the API that dies
    monkeypatch.undo()
    _sweep(h)
    assert _statuses(h)[RemediationStatus.EXPIRED] == 1


def test_an_approval_whose_record_a_crash_stopped_is_recorded_and_its_action_runs_once(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(APPROVAL, executor="dry-run")
    approval_id = _pending(h, anomaly, "idle_a")
    _die_on_next_publish(monkeypatch)
    with pytest.raises(Killed):
        h.remediator.decisions.approve(approval_id, "ana")
    monkeypatch.undo()
    assert h.work.executions == []  # it died before sending the action
    h.client.zadd(redis_keys.APPROVED_UNCLAIMED, {approval_id: 1})  # stalled since
    _sweep(h)
    (request,) = h.work.executions  # sent by the sweep
    h.workflow.execute_request(request)
    statuses = _statuses(h)
    assert statuses[RemediationStatus.APPROVED] == 1
    assert statuses[RemediationStatus.DRY_RUN] == 1


def test_a_lapse_whose_record_a_crash_stopped_is_recorded_by_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(APPROVAL, executor="dry-run")
    request = _approved_too_long_ago(h, anomaly, "idle_l")
    _die_on_next_publish(monkeypatch)
    with pytest.raises(Killed):
        h.remediator.decisions.redispatch_stalled(0.001)  # takes it as lapsed, and dies
    monkeypatch.undo()
    _sweep(h)
    assert h.workflow.execute_request(request) is None  # the late task: settled, not run
    statuses = _statuses(h)
    assert statuses[RemediationStatus.EXPIRED] == 1
    assert statuses[RemediationStatus.DRY_RUN] == 0


def test_a_lapse_a_worker_found_and_died_on_is_recorded_by_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(APPROVAL, executor="dry-run")
    request = _approved_too_long_ago(h, anomaly, "idle_w")
    _die_on_next_publish(monkeypatch)
    with pytest.raises(Killed):
        h.workflow.execute_request(request)  # the worker finds it lapsed, and dies
    monkeypatch.undo()
    claim = redis_keys.claim(request.subject_id, request.action)
    h.client.delete(redis_keys.lease(claim))  # the dead attempt's lease lapsed
    h.workflow.execute_request(request)  # redelivered: settled, not run
    _sweep(h)
    statuses = _statuses(h)
    assert statuses[RemediationStatus.EXPIRED] == 1
    assert statuses[RemediationStatus.DRY_RUN] == 0
