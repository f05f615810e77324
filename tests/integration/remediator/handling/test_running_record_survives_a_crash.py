"""A sent command's ``running`` record (its command id, when it started) is written before the
run is marked sent: once it is marked, an attempt that takes over only resumes polling, and a
worker killed between the two had left the run's story without it, in the audit log and so in
the history's timeline, for good. Killed before the mark (the record written or not), the run
is still reserved: the sweep finds the command, adopts it and writes the record, never sending
the command again; written twice, it is one record."""

from __future__ import annotations

import time
from typing import Literal

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.background import sweep_once
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import AuditLog, AuditQuery, RecordPublisher
from shared.events import RemediationRecord, RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.integration.remediator.handling.test_workflow import RESTART
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

LEASE_S = 1.0


class Killed(BaseException):
    """The worker dies here (kill -9): nothing after this line runs."""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_worker_killed_around_its_running_record_leaves_the_run_told_once(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsApi,
    aws_url: str,
    when: Literal["before", "after"],
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url, claim_lease_s=LEASE_S, abandoned_margin_s=0.0)
    event = anomaly(resource_id=instance)
    real_publish = RecordPublisher.publish

    def die_at_running(self: RecordPublisher, record: RemediationRecord, **kw: object) -> None:
        if record.status != RemediationStatus.RUNNING:
            real_publish(self, record, **kw)  # type: ignore[arg-type]
            return
        if when == "after":
            real_publish(self, record, **kw)  # type: ignore[arg-type]
        raise Killed  # the command is in SSM; the run not yet marked sent

    monkeypatch.setattr(RecordPublisher, "publish", die_at_running)
    with pytest.raises(Killed):
        h.workflow.handle(event)
    monkeypatch.undo()
    assert len(sent_commands(aws)) == 1
    (run_id,) = [m.decode() for m in h.client.zrange(redis_keys.RESERVED_RUNS, 0, -1)]

    time.sleep(LEASE_S + 0.2)  # the dead attempt's lease lapses
    assert sweep_once(h.remediator)["settled"] == 1  # adopted: the command found in SSM
    h.client.zadd(redis_keys.ACTIVE_RUNS, {run_id: 1})
    sweep_once(h.remediator)
    h.run_polls()
    assert len(sent_commands(aws)) == 1  # never sent again
    audit = AuditLog(h.client).query(AuditQuery(anomaly_id=str(event.event_id), limit=50))
    told = [r.status for r in audit.records if r.run_id == run_id]
    assert sorted(told) == sorted([RemediationStatus.RUNNING, RemediationStatus.SUCCEEDED])
