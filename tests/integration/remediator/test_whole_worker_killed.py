"""A whole Celery worker (its parent process too) SIGKILLed between the safety reservation and
sending the SSM command: its task stays unacknowledged in the broker until the visibility
timeout, so no redelivery comes. The API's sweep finds the run stuck in ``reserved`` once its
claim lease lapsed and settles it within its bound: recorded ``interrupted`` (or, when the
command reached SSM, adopted and followed to its end), the target's lock released, the team
told through the records stream, and the action never sent twice.

The worker is provably between reserve and send: a real HTTP proxy in front of the local AWS
server holds its ``SendCommand`` request."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.stores import redis_keys
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus
from shared.tasks import HANDLE_ANOMALY
from tests.integration.remediator.conftest import HarnessFactory, aws_worker_env
from tests.support.aws_faults import AwsFaults, Mode, aws_faults
from tests.support.aws_fleet import instances, sent_commands
from tests.support.events import cpu_anomaly
from tests.support.processes import StackProcess, service, worker
from tests.support.records import first_record

LEASE_S = 3.0
SWEEP_S = 1.0
MARGIN_S = 1.0  # SCOPS_ABANDONED_MARGIN_S
BOUND_S = LEASE_S + MARGIN_S + SWEEP_S  # from the reservation to the run settled
RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    cooldown: 0s
    actions: [{action: restart_service, params: {service: app}}]
"""


class WholeWorker(StackProcess):
    """A worker started in a process group of its own (``own_group=True``), so the test can
    kill it whole."""

    def kill_whole(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the parent and every pool child
        self.process.wait(timeout=10)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, *logs: StackProcess) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.log_tail(30)}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@contextmanager
def killed_between_reserve_and_send(
    mode: Mode, redis_url: str, aws_url: str, tmp_path: Path, log_dir: Path, target: str
) -> Iterator[tuple[AwsFaults, dict[str, str], StackProcess, AnomalyEvent, float]]:
    """A worker handling an anomaly on ``target`` is killed whole while its SendCommand is
    held by the proxy; the API (sweeping every second) runs. Yields the proxy, the settings,
    the API, the anomaly and the monotonic time of the kill."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    with aws_faults(aws_url, mode, stall_s=120.0) as faults:
        env = aws_worker_env(redis_url, faults.url, rules) | {
            "SCOPS_CLAIM_LEASE_S": str(LEASE_S),
            "SCOPS_SWEEP_INTERVAL_S": str(SWEEP_S),
            "SCOPS_ABANDONED_MARGIN_S": str(MARGIN_S),
        }
        doomed = WholeWorker(
            "doomed", ["worker", "--concurrency", "1"], env, log_dir / "doomed.log", own_group=True
        )
        api = service("remediator", env, log_dir)
        celery = create_celery(RemediatorSettings(redis_url=redis_url))
        try:
            doomed.start()
            api.start().wait_ready()
            event = cpu_anomaly(target, datetime.now(UTC) - timedelta(seconds=5))
            celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})
            wait_until(faults.first_send.is_set, 60, "the worker to send its command", doomed)
            doomed.kill_whole()
            killed_at = time.monotonic()
            yield faults, env, api, event, killed_at
        finally:
            celery.close()
            doomed.stop()
            api.stop()


def test_a_worker_killed_whole_before_sending_is_recorded_interrupted_by_the_sweep(
    redis_url: str,
    sync_redis: redis.Redis,
    aws: AwsApi,
    aws_url: str,
    tmp_path: Path,
    log_dir: Path,
    harness: HarnessFactory,
) -> None:
    (target,) = instances(aws)
    with killed_between_reserve_and_send("hang", redis_url, aws_url, tmp_path, log_dir, target) as (
        faults,
        env,
        api,
        first,
        killed_at,
    ):
        (reserved,) = sync_redis.zrange(redis_keys.RESERVED_RUNS, 0, -1)
        run = sync_redis.hgetall(redis_keys.run(reserved.decode()))
        assert run[b"state"] == b"reserved"
        assert sync_redis.keys("scops:{remediation}:safety:lock:*")  # the dead run holds it

        def interrupted() -> RemediationRecord | None:
            return first_record(sync_redis, RemediationStatus.INTERRUPTED)

        record = wait_until(interrupted, BOUND_S + 15, "the sweep to settle the run", api)
        recovered_s = time.monotonic() - killed_at
        print(f"\nwhole worker killed before sending: recorded after {recovered_s:.1f}s")
        assert recovered_s <= BOUND_S + 2
        assert record.run_id == reserved.decode()
        assert "no SSM command of this run exists, so it was not sent" in record.reason
        assert sync_redis.keys("scops:{remediation}:safety:lock:*") == []
        assert sync_redis.zcard(redis_keys.RESERVED_RUNS) == 0
        assert sync_redis.hget(redis_keys.run(record.run_id), "state") == b"finished"

        # The task's late redelivery (after the visibility timeout) changes nothing.
        h = harness(RULES, aws_url=aws_url)
        assert record.anomaly_id == first.event_id
        assert h.workflow.handle(first) is None

        # The target is free: the next anomaly's action runs, through a live worker.
        faults.mode = "pass"
        live = worker(env, log_dir, tag="-live").start()
        try:
            celery = create_celery(RemediatorSettings(redis_url=redis_url))
            event = cpu_anomaly(target, datetime.now(UTC))
            celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})
            celery.close()

            def succeeded() -> bool:
                return first_record(sync_redis, RemediationStatus.SUCCEEDED) is not None

            wait_until(succeeded, 60, "the next action to run", live)
        finally:
            live.stop()
    (command,) = sent_commands(aws)  # the killed run's command was never sent
    assert command["Comment"] != f"scops run {record.run_id}"
    assert faults.sends_forwarded == 1


def test_a_worker_killed_whole_after_its_command_reached_ssm_is_adopted_not_resent(
    redis_url: str,
    sync_redis: redis.Redis,
    aws: AwsApi,
    aws_url: str,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    (target,) = instances(aws)
    with killed_between_reserve_and_send(
        "stall", redis_url, aws_url, tmp_path, log_dir, target
    ) as (faults, env, api, _event, killed_at):
        wait_until(lambda: faults.sends_forwarded == 1, 10, "the command to reach SSM", api)

        def running() -> RemediationRecord | None:
            return first_record(sync_redis, RemediationStatus.RUNNING)

        record = wait_until(running, BOUND_S + 15, "the sweep to adopt the command", api)
        adopted_s = time.monotonic() - killed_at
        print(f"\nwhole worker killed after sending: adopted after {adopted_s:.1f}s")
        assert "found SSM command" in record.reason
        live = worker(env, log_dir, tag="-live").start()
        try:

            def succeeded() -> bool:
                return first_record(sync_redis, RemediationStatus.SUCCEEDED) is not None

            wait_until(succeeded, 60, "the adopted command to be followed to its end", live)
        finally:
            live.stop()
    (command,) = sent_commands(aws)
    assert command["Comment"] == f"scops run {record.run_id}"
    assert faults.sends_seen == 1
    assert sync_redis.keys("scops:{remediation}:safety:lock:*") == []
