"""An action's end is marked in one step and recorded in the next. A worker killed between the
two (simulated: the record's write dies, nothing after it runs) leaves the run among the
active ones, and the sweep's next poll writes its record, frees its lock and ends its claim:
the team hears how it ended, and the command is never sent again."""

from __future__ import annotations

import pytest

from services.remediator.aws.session import AwsApi
from services.remediator.background import sweep_once
from services.remediator.stores import redis_keys
from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory
from tests.integration.remediator.handling.test_workflow import RESTART
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory


class Killed(BaseException):
    """The worker dies here (kill -9): nothing after this line runs."""


def test_a_worker_killed_between_a_runs_end_and_its_record_leaves_it_to_the_sweep(
    harness: HarnessFactory,
    anomaly: AnomalyFactory,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsApi,
    aws_url: str,
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(RESTART, aws_url=aws_url)
    event = anomaly(resource_id=instance)
    running = h.workflow.handle(event)
    assert running is not None and running.status == RemediationStatus.RUNNING
    ((run_id, _),) = h.work.polls
    h.work.polls.clear()

    def die(*_a: object, **_k: object) -> None:
        raise Killed

    monkeypatch.setattr(RecordPublisher, "publish", die)
    with pytest.raises(Killed):
        h.remediator.runner.poll(run_id)  # the command ended; the worker dies recording it
    monkeypatch.undo()
    assert h.client.hget(redis_keys.run(run_id), "state") == b"finished"
    assert h.client.zscore(redis_keys.ACTIVE_RUNS, run_id) is not None  # still to be told

    h.client.zadd(redis_keys.ACTIVE_RUNS, {run_id: 1})  # a sweep interval later
    assert sweep_once(h.remediator)["repolled"] == 1
    h.run_polls()
    ended = [
        r
        for r in h.records()
        if r.status in (RemediationStatus.SUCCEEDED, RemediationStatus.FAILED)
    ]
    assert len(ended) == 1 and ended[0].run_id == run_id
    claim = redis_keys.claim(event.event_id, "restart_service")
    assert h.client.get(claim) == b"done"
    assert h.client.zscore(redis_keys.ACTIVE_RUNS, run_id) is None
    assert sweep_once(h.remediator)["repolled"] == 0  # told once
    h.run_polls()
    assert len([r for r in h.records() if r.run_id == run_id and r.status == ended[0].status]) == 1
    assert len(sent_commands(aws)) == 1  # never sent again
