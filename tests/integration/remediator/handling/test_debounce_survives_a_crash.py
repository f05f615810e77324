"""A debounced rule waits, and its re-check decides. The claim's wait and the re-check's note
are one step: a worker killed right after it (simulated: the next write dies, nothing after it
runs) leaves a re-check the sweep sends when due, and the rule acts then. Apart, a worker
dying between them left the claim waiting for a re-check nothing would send."""

from __future__ import annotations

import time

import pytest

from services.remediator.background import redispatch_stalled_anomalies
from services.remediator.stores import redis_keys
from services.remediator.stores.claims import Claims
from services.remediator.stores.dispatched import member
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.integration.remediator.handling.test_workflow import DEBOUNCED
from tests.support.remediator_fixtures import AnomalyFactory


class Killed(BaseException):
    """The worker dies here (kill -9): nothing after this line runs."""


def test_a_worker_killed_as_its_rule_starts_waiting_leaves_the_recheck_to_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(DEBOUNCED, executor="dry-run", redispatch_stalled_s=0.001)
    event = anomaly()

    real_set = Claims.set

    def set_then_die(self: Claims, claim: object, value: bytes, *more: object) -> None:
        real_set(self, claim, value, *more)  # type: ignore[arg-type]
        if value == b"waiting":
            raise Killed  # right after the claim started waiting

    monkeypatch.setattr(Claims, "set", set_then_die)
    with pytest.raises(Killed):
        h.workflow.handle(event)
    monkeypatch.undo()
    claim = redis_keys.claim(event.event_id, "restart_service")
    assert h.client.get(claim) == b"waiting"
    noted = member(event.event_id, "cpu-lasting")
    due = h.client.zscore(redis_keys.DISPATCHED, noted)
    assert due is not None and due > time.time() * 1000  # due when the rule's 5m are up

    assert h.workflow.handle(event) is None  # the redelivery: waiting, skipped
    h.client.zadd(redis_keys.DISPATCHED, {noted: 1})  # ... five minutes later
    assert redispatch_stalled_anomalies(h.remediator) == 1
    ((resent, rule, _delay),) = h.work.rechecks
    assert (resent.event_id, rule) == (event.event_id, "cpu-lasting")
    record = h.workflow.recheck(resent, rule)
    assert record is not None and record.status in (
        RemediationStatus.DRY_RUN,
        RemediationStatus.NO_ACTION,  # the condition cleared meanwhile: also a decision
    )
    assert h.client.get(claim) != b"waiting"
