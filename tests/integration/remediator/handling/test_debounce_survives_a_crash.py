"""A debounced rule waits, and its re-check decides. The rule's ``proposed`` record settles the
anomaly among those sent (the sweep no longer sends it again); the claim's wait and the
re-check's note are written ahead of it, in its round trip. So a worker killed anywhere around
that write (simulated: the write dies before or after it is made, nothing after it runs) leaves
either nothing written, and the anomaly is sent again and decided; or the record, the claim
waiting and the re-check noted, which the sweep sends when due, and the rule acts then. Apart, a
worker dying after the record left the anomaly settled and the re-check unnoted: the rule never
acted, and the broker's redelivery an hour later recorded ``interrupted``."""

from __future__ import annotations

import time

import pytest

from services.remediator.background import redispatch_stalled_anomalies, sweep_once
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import RecordPublisher
from services.remediator.stores.dispatched import member, note_commands
from services.remediator.stores.packed_calls import PackedCalls
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.integration.remediator.handling.test_workflow import DEBOUNCED
from tests.support.remediator_fixtures import AnomalyFactory

LEASE_S = 0.3
ACTED = (
    RemediationStatus.DRY_RUN,
    RemediationStatus.NO_ACTION,  # the condition cleared meanwhile: also a decision
)


class Killed(BaseException):
    """The worker dies here (kill -9): nothing after this line runs."""


def kill_at_the_proposed_record(monkeypatch: pytest.MonkeyPatch, *, written: bool) -> None:
    """The worker dies as it writes the rule's waiting ``proposed`` record: before the write
    reaches Redis, or right after it."""
    real_publish = RecordPublisher.publish

    def publish_and_die(self: RecordPublisher, record: RemediationRecord, **kw: object) -> None:
        waiting = record.status == RemediationStatus.PROPOSED and record.blocked_by == "debounce"
        if waiting and not written:
            raise Killed
        real_publish(self, record, **kw)  # type: ignore[arg-type]
        if waiting:
            raise Killed

    monkeypatch.setattr(RecordPublisher, "publish", publish_and_die)


def sent_and_killed(
    h: Harness, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch, *, written: bool
) -> tuple[AnomalyEvent, str]:
    """An anomaly sent (noted as the API's dispatcher notes it) whose worker dies at its record;
    the anomaly and its claim's key."""
    event = anomaly()
    PackedCalls(h.client).run(note_commands([event], int(time.time() * 1000)))
    kill_at_the_proposed_record(monkeypatch, written=written)
    with pytest.raises(Killed):
        h.workflow.handle(event)
    monkeypatch.undo()
    time.sleep(LEASE_S + 0.2)  # the dead attempt's lease lapses (nobody renews it)
    return event, redis_keys.claim(event.event_id, "restart_service")


def test_a_worker_killed_right_after_the_proposed_record_leaves_the_recheck_to_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(DEBOUNCED, executor="dry-run", redispatch_stalled_s=0.001, claim_lease_s=LEASE_S)
    event, claim = sent_and_killed(h, anomaly, monkeypatch, written=True)
    assert [r.status for r in h.records()] == [RemediationStatus.PROPOSED]
    assert h.client.get(claim) == b"waiting"
    noted = member(event.event_id, "cpu-lasting")
    due = h.client.zscore(redis_keys.DISPATCHED, noted)
    assert due is not None and due > time.time() * 1000  # due when the rule's 5m are up
    assert h.client.zscore(redis_keys.DISPATCHED, member(event.event_id)) is None

    assert sweep_once(h.remediator)["resent"] == 0  # not due yet; the anomaly is settled
    assert h.workflow.handle(event) is None  # the broker's redelivery
    h.client.zadd(redis_keys.DISPATCHED, {noted: 1})  # ... five minutes later
    assert redispatch_stalled_anomalies(h.remediator) == 1
    ((resent, rule, _delay),) = h.work.rechecks
    assert (resent.event_id, rule) == (event.event_id, "cpu-lasting")
    record = h.workflow.recheck(resent, rule)
    assert record is not None and record.status in ACTED
    assert h.client.get(claim) == b"done"
    assert h.client.zscore(redis_keys.DISPATCHED, noted) is None


def test_a_worker_killed_before_the_proposed_record_leaves_the_anomaly_to_the_sweep(
    harness: HarnessFactory, anomaly: AnomalyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(DEBOUNCED, executor="dry-run", redispatch_stalled_s=0.001, claim_lease_s=LEASE_S)
    event, claim = sent_and_killed(h, anomaly, monkeypatch, written=False)
    assert h.records() == [] and h.client.get(claim) == b"started"

    assert redispatch_stalled_anomalies(h.remediator) == 1
    ((resent, _dry_run),) = h.work.anomalies
    assert resent.event_id == event.event_id
    record = h.workflow.handle(resent)
    assert record is not None and record.status == RemediationStatus.INTERRUPTED
    assert h.client.get(claim) == b"done"
    assert h.client.zcard(redis_keys.DISPATCHED) == 0
