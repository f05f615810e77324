"""Redis lost between an action's end and its record: the run is finished, the record never
written, the task failed. The next attempt finds the run finished and must tell what happened
(the record it could not write), not close the decision in silence."""

from __future__ import annotations

import time

import pytest
import redis

from scops.local_redis import free_port
from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
policy:
  verify: off
rules:
  - name: cpu
    match: {metric: cpu_utilization}
    actions: [{action: optimize_performance, params: {script: collect-diagnostics}}]
"""


def test_an_action_whose_record_was_lost_with_redis_is_recorded_by_the_next_attempt(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="local", claim_lease_s=1.0)
    runner = h.remediator.runner
    kept = runner.publisher
    gone = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    runner.publisher = RecordPublisher(gone, maxlen=1000, audit_maxlen=1000)
    event = anomaly(resource_id="web-9", metric="cpu_utilization")
    try:
        with pytest.raises(redis.ConnectionError):
            h.workflow.handle(event)  # ran, then Redis went away before the record
    finally:
        runner.publisher = kept
        gone.close()
    assert remediation_records(h.client) == []

    time.sleep(1.2)  # the failed attempt's lease lapses: the redelivery takes the claim over
    h.workflow.handle(event)
    records = [r for r in remediation_records(h.client) if r.anomaly_id == event.event_id]
    assert [r.status for r in records] == [RemediationStatus.SUCCEEDED]
    assert "ran run catalogue script collect-diagnostics" in records[0].reason
    h.workflow.handle(event)  # a third delivery: nothing more
    assert len(remediation_records(h.client)) == 1
    assert h.client.keys("scops:{remediation}:safety:lock:*") == []
