"""An approved action whose Celery worker is SIGKILLed whole (parent and pool children) after the
worker took the approval out of the approved index and before its run is reserved: here, while
it resolves the target in EC2 (``DescribeInstances``, held by a real HTTP proxy in front of the
local AWS server).

Its task stays unacknowledged in the broker until the visibility timeout (an hour), and no run is
reserved for the sweep to settle. The worker noted it among the dispatched in the step that took
it out of the approved index, so the API's sweep sends it again once it has stalled
(``SCOPS_REDISPATCH_STALLED_S``), and the live worker that takes the dead attempt's claim over
finds nothing reserved, so nothing sent, and runs it: once."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.stores import redis_keys
from shared.events import RemediationStatus
from shared.tasks import EXECUTE_REQUEST
from tests.integration.remediator.aws.test_approved_actions_checked_when_run import pending
from tests.integration.remediator.conftest import HarnessFactory, aws_worker_env
from tests.integration.remediator.test_whole_worker_killed import WholeWorker, wait_until
from tests.support.aws_faults import aws_faults
from tests.support.aws_fleet import instances, sent_commands
from tests.support.processes import StackProcess, service, worker
from tests.support.records import remediation_records

RULES = """\
version: 1
policy:
  approval_for_risk: [low, medium, high]
  verify: off
rules: []
"""
LEASE_S = 1.0
SWEEP_S = 0.5
STALLED_S = 1.0  # SCOPS_REDISPATCH_STALLED_S
# From the kill: the stall time and a sweep, the dead attempt's lease, and a live worker
# starting and running it (generous on a loaded machine; the broker's redelivery is an hour).
BOUND_S = STALLED_S + SWEEP_S + LEASE_S + 30


def test_an_approved_action_whose_worker_died_whole_before_reserving_runs_once(
    redis_url: str,
    sync_redis: redis.Redis,
    aws: AwsApi,
    aws_url: str,
    tmp_path: Path,
    log_dir: Path,
    harness: HarnessFactory,
) -> None:
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = harness(RULES, aws_url=aws_url)
    approval_id = pending(h, instance)  # a person's request, waiting for approval
    h.remediator.decisions.approve(approval_id, "bo", person="bo")
    (request,) = h.work.executions  # what the API sends to the workers
    claim_key = redis_keys.claim(request.subject_id, request.action)

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    with aws_faults(aws_url) as faults:
        faults.slow["DescribeInstances"] = 120.0  # the doomed worker resolving its target
        env = aws_worker_env(redis_url, faults.url, rules) | {
            "SCOPS_CLAIM_LEASE_S": str(LEASE_S),
            "SCOPS_SWEEP_INTERVAL_S": str(SWEEP_S),
            "SCOPS_REDISPATCH_STALLED_S": str(STALLED_S),
        }
        doomed = WholeWorker(
            "doomed", ["worker", "--concurrency", "1"], env, log_dir / "doomed.log", own_group=True
        )
        api = service("remediator", env, log_dir)
        celery = create_celery(RemediatorSettings(redis_url=redis_url))
        live: StackProcess | None = None
        try:
            doomed.start()
            api.start().wait_ready()
            celery.send_task(
                EXECUTE_REQUEST,
                kwargs={"request": request.model_dump(mode="json")},
                task_id=f"execute-{request.run_id}",
            )

            def started_and_out_of_the_index() -> bool:
                return (
                    sync_redis.get(claim_key) == b"started"
                    and sync_redis.zscore(redis_keys.APPROVED_UNCLAIMED, approval_id) is None
                )

            wait_until(started_and_out_of_the_index, 60, "the worker to start it", doomed)
            time.sleep(0.5)  # inside DescribeInstances (held by the proxy)
            assert sync_redis.zcard(redis_keys.RESERVED_RUNS) == 0  # not reserved yet
            doomed.kill_whole()
            killed_at = time.monotonic()
            faults.slow.clear()
            live = worker(env, log_dir, tag="-live").start()

            def ran() -> list[RemediationStatus]:
                return [
                    r.status
                    for r in remediation_records(sync_redis)
                    if r.approval_id == approval_id
                    and r.status != RemediationStatus.PENDING_APPROVAL
                ]

            wait_until(
                lambda: RemediationStatus.SUCCEEDED in ran(), BOUND_S, "the action run", api, live
            )
            assert time.monotonic() - killed_at < BOUND_S
            assert ran() == [
                RemediationStatus.APPROVED,
                RemediationStatus.RUNNING,
                RemediationStatus.SUCCEEDED,
            ]
            assert len(sent_commands(aws)) == 1
        finally:
            celery.close()
            doomed.stop()
            if live is not None:
                live.stop()
            api.stop()
