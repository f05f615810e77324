"""Real Celery worker processes: many anomalies at once stay within the safety limits, and a
worker killed in the middle of an action never runs it a second time."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from services.remediator.aws.session import AwsApi
from services.remediator.celery_app import create_celery
from services.remediator.config import RemediatorSettings
from shared.events import RemediationRecord, RemediationStatus
from shared.tasks import HANDLE_ANOMALY
from tests.integration.remediator.conftest import aws_worker_env
from tests.support.aws_fleet import instances, sent_commands
from tests.support.events import cpu_anomaly
from tests.support.local_remediator import local_executor_env
from tests.support.processes import worker
from tests.support.records import remediation_records
from tests.support.waiting import wait_for

TERMINAL = {
    RemediationStatus.SUCCEEDED,
    RemediationStatus.FAILED,
    RemediationStatus.BLOCKED,
    RemediationStatus.INTERRUPTED,
}
RULES = """\
version: 1
policy: {blast_radius: off}  # the rate limit, cooldowns and locks are what is measured
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app, timeout_s: 60}}]
"""


def test_eight_workers_and_200_anomalies_on_20_targets_stay_within_the_limits(
    redis_url: str,
    sync_redis: redis.Redis,
    log_dir: Path,
    tmp_path: Path,
    aws: AwsApi,
    aws_url: str,
) -> None:
    targets = instances(aws, 20)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = aws_worker_env(redis_url, aws_url, rules)
    proc = worker(env, log_dir, concurrency=8).start()
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    start = datetime.now(UTC) - timedelta(minutes=1)
    events = [cpu_anomaly(targets[n % 20], start + timedelta(milliseconds=n)) for n in range(200)]
    try:
        for event in events:
            celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})

        def all_decided() -> bool:
            done = {r.anomaly_id for r in remediation_records(sync_redis) if r.status in TERMINAL}
            return len(done) == len(events)

        wait_for(proc, all_decided, 90, "a final decision for every anomaly")
    finally:
        celery.close()
        assert proc.stop() == 0, proc.log_tail()
    # One JSON object a line (no banner, warnings as log lines), but for Celery's own words
    # as it shuts down ("worker: Warm shutdown").
    lines = [line for line in proc.log_text().splitlines() if line.strip()]
    loose = [line for line in lines if not line.startswith(("{", "worker: "))]
    assert loose == [], loose[:5]

    by_anomaly: dict[Any, list[RemediationRecord]] = defaultdict(list)
    for record in remediation_records(sync_redis):
        by_anomaly[record.anomaly_id].append(record)
    assert set(by_anomaly) == {e.event_id for e in events}  # nothing unaccounted for
    final = [next(r for r in rs if r.status in TERMINAL) for rs in by_anomaly.values()]
    assert all(sum(r.status in TERMINAL for r in rs) == 1 for rs in by_anomaly.values())
    succeeded = [r for r in final if r.status == RemediationStatus.SUCCEEDED]
    blocked = [r for r in final if r.status == RemediationStatus.BLOCKED]
    assert len(succeeded) == 10
    assert len(blocked) == 190
    assert len({r.target for r in succeeded}) == 10  # never two on one target
    assert Counter(r.blocked_by for r in blocked).keys() <= {"rate_limit", "cooldown", "lock"}
    assert all(r.reason for r in blocked)
    commands = sent_commands(aws)
    assert len(commands) == 10
    assert {c["Comment"] for c in commands} == {f"scops run {r.run_id}" for r in succeeded}


CRASH_CATALOGUE = """\
version: 1
scripts:
  slow-marker:
    description: Notes that it ran, then takes its time.
    risk: low
    timeout_s: 120
    commands:
      - echo "$PPID $$" >> {marker}
      - exec sleep 20
"""
CRASH_RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: optimize_performance, params: {script: slow-marker}}]
"""


def test_a_worker_killed_mid_action_does_not_run_it_again(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    env = local_executor_env(
        redis_url,
        tmp_path,
        CRASH_RULES,
        CRASH_CATALOGUE.replace("{marker}", str(marker)),
        {"SCOPS_CLAIM_LEASE_S": "1"},
    )
    proc = worker(env, log_dir, concurrency=1).start()
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    event = cpu_anomaly("web-1", datetime.now(UTC))
    shell_pid = 0
    try:
        celery.send_task(HANDLE_ANOMALY, kwargs={"event": event.model_dump(mode="json")})
        wait_for(proc, marker.exists, 30, "the action to start")
        worker_child, shell_pid = (int(p) for p in marker.read_text().split())
        os.kill(worker_child, signal.SIGKILL)  # mid-action

        def recorded() -> bool:
            return any(
                r.status == RemediationStatus.INTERRUPTED for r in remediation_records(sync_redis)
            )

        wait_for(proc, recorded, 30, "the interrupted action to be recorded")
        time.sleep(1.0)  # room for a wrong second run to show up
    finally:
        celery.close()
        exit_code = proc.stop()
        if shell_pid:  # the script the killed worker left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(shell_pid, signal.SIGKILL)
        assert exit_code == 0, proc.log_tail()

    assert len(marker.read_text().splitlines()) == 1  # ran once, never again
    (record,) = remediation_records(sync_redis)
    assert record.status == RemediationStatus.INTERRUPTED
    assert record.action == "optimize_performance" and record.executor == "local"
    assert "the worker stopped while running run catalogue script slow-marker" in record.reason
    assert "not run again" in record.reason
    assert sync_redis.keys("scops:{remediation}:safety:lock:*") == []
    assert "WorkerLostError" in proc.log_text() or "SIGKILL" in proc.log_text()
