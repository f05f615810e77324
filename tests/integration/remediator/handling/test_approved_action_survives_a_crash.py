"""An approved action whose worker dies whole after taking it out of the approved index and
before its run is reserved (simulated: the step dies, nothing after it runs). The same step
that takes it out of the index notes it among the dispatched, so the sweep sends it again once
stalled; the delivery that takes the dead attempt's claim over finds no run reserved, so
nothing was sent, and starts it: it runs once. Past its start window it is recorded
``expired`` instead. Before, nothing pointed at it: the broker's redelivery an hour later
recorded ``interrupted`` and the approved action never ran.

SSM and EC2 are moto's server, through the real aioboto3 client."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.background import sweep_once
from services.remediator.handling.workflow import AnomalyWorkflow
from services.remediator.stores import redis_keys
from services.remediator.stores.safety import SafetyManager
from shared.events import RemediationStatus
from tests.integration.remediator.aws.test_approved_actions_checked_when_run import pending
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.aws_fleet import instances, sent_commands

RULES = """\
version: 1
policy:
  approval_for_risk: [low, medium, high]
  verify: off
rules: []
"""
LEASE_S = 0.3
FAST = {"claim_lease_s": LEASE_S, "redispatch_stalled_s": 0.001, "abandoned_margin_s": 0.0}


class Killed(BaseException):
    """The worker dies here (kill -9): nothing after this line runs."""


RESOLVING = (AnomalyWorkflow, "resolve")  # resolving its target (asking EC2)
RESERVING = (SafetyManager, "reserve")  # its run entered in the reserved index


def die(*_args: Any, **_kwargs: Any) -> None:
    raise Killed


def approved_and_killed(
    h: Harness, instance: str, monkeypatch: pytest.MonkeyPatch, at: tuple[type, str]
) -> str:
    """A person's request approved, whose worker dies when it calls ``at``; its approval id."""
    approval_id = pending(h, instance)
    h.remediator.decisions.approve(approval_id, "bo", person="bo")
    request = h.work.executions.pop()
    monkeypatch.setattr(*at, die)
    with pytest.raises(Killed):
        h.workflow.execute_request(request)
    monkeypatch.undo()
    assert h.client.zscore(redis_keys.APPROVED_UNCLAIMED, approval_id) is None
    assert h.client.get(redis_keys.claim(request.subject_id, request.action)) == b"started"
    time.sleep(LEASE_S + 0.2)  # the dead attempt's lease lapses (nobody renews it)
    return approval_id


def statuses(h: Harness, approval_id: str) -> list[RemediationStatus]:
    """What was recorded of the approval once it was asked."""
    found = [r.status for r in h.records() if r.approval_id == approval_id]
    assert found[0] == RemediationStatus.PENDING_APPROVAL
    return found[1:]


def test_an_approved_action_whose_worker_died_before_reserving_is_sent_again_and_runs_once(
    harness: HarnessFactory, aws: AwsApi, aws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(RULES, aws_url=aws_url, **FAST)
    approval_id = approved_and_killed(h, instance, monkeypatch, RESOLVING)
    assert statuses(h, approval_id) == [RemediationStatus.APPROVED]
    assert h.client.zcard(redis_keys.RESERVED_RUNS) == 0

    assert sweep_once(h.remediator)["resent"] == 1
    (resent,) = h.work.executions
    record = h.workflow.execute_request(resent)
    assert record is not None and record.status == RemediationStatus.RUNNING, record
    h.run_polls()

    # The broker's own redelivery of the dead worker's task, and a sweep: nothing more.
    assert h.workflow.execute_request(resent) is None
    assert sweep_once(h.remediator)["resent"] == 0
    h.run_polls()
    assert len(sent_commands(aws)) == 1
    assert statuses(h, approval_id) == [
        RemediationStatus.APPROVED,
        RemediationStatus.RUNNING,
        RemediationStatus.SUCCEEDED,
    ]
    assert h.client.zcard(redis_keys.DISPATCHED) == 0


def test_an_approved_action_whose_worker_died_before_its_reservation_is_started_not_settled(
    harness: HarnessFactory, aws: AwsApi, aws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between entering its run in the reserved index and the reservation: the sweep
    does not settle the run (nothing was reserved, so nothing sent); the delivery it sends
    again starts it."""
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(RULES, aws_url=aws_url, **FAST)
    approval_id = approved_and_killed(h, instance, monkeypatch, RESERVING)
    assert h.client.zcard(redis_keys.RESERVED_RUNS) == 1

    done = sweep_once(h.remediator)
    assert (done["settled"], done["resent"]) == (0, 1)
    assert h.client.zcard(redis_keys.RESERVED_RUNS) == 0
    record = h.workflow.execute_request(h.work.executions.pop())
    assert record is not None and record.status == RemediationStatus.RUNNING, record
    h.run_polls()
    assert len(sent_commands(aws)) == 1
    assert statuses(h, approval_id)[-1] == RemediationStatus.SUCCEEDED


def test_an_approved_action_whose_worker_died_is_recorded_expired_past_its_start_window(
    harness: HarnessFactory, aws: AwsApi, aws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(RULES, aws_url=aws_url, approved_start_within_s=1, **FAST)
    approval_id = approved_and_killed(h, instance, monkeypatch, RESOLVING)
    time.sleep(1.0)  # its start window lapses

    assert sweep_once(h.remediator)["resent"] == 1
    (resent,) = h.work.executions
    record = h.workflow.execute_request(resent)
    assert record is not None and record.status == RemediationStatus.EXPIRED, record
    assert "not started within 1s of its approval" in record.reason

    assert h.workflow.execute_request(resent) is None  # a later delivery: nothing more
    assert sweep_once(h.remediator)["resent"] == 0
    assert sent_commands(aws) == []
    assert statuses(h, approval_id) == [RemediationStatus.APPROVED, RemediationStatus.EXPIRED]
