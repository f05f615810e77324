"""A whole Celery worker (its parent process too) SIGKILLed while it holds anomalies it has
reserved from the broker but not started: their tasks sit in the broker's unacknowledged set
until the visibility timeout (an hour), and no claim of theirs exists for the sweep to take over.
The API's sweep sends them again once they are undecided for ``SCOPS_REDISPATCH_STALLED_S``:
every anomaly gets its decision within that bound of the kill, and no action runs twice.

The worker provably holds reserved, unstarted tasks: its pool children are stopped (SIGSTOP)
before the anomalies reach the stream, so the parent reserves as many as its prefetch allows
(kombu's ``unacked`` hash) and hands none over."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import httpx
import redis

from shared.bus import encode_event
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus
from shared.streams import ANOMALIES
from shared.tasks import REMEDIATION_QUEUE
from tests.support.events import cpu_anomaly
from tests.support.processes import StackProcess, service, stack_env, worker
from tests.support.records import remediation_records
from tests.support.waiting import wait_for

CONCURRENCY = 2  # the doomed worker reserves this many (prefetch multiplier 1)
ANOMALIES_SENT = 6
STALLED_S = 3.0  # SCOPS_REDISPATCH_STALLED_S
SWEEP_S = 1.0
BOUND_S = STALLED_S + SWEEP_S + 20  # the new worker's start and its decisions included
CATALOGUE = """\
version: 1
scripts:
  marker:
    description: Notes that it ran.
    risk: low
    timeout_s: 30
    commands:
      - echo "$$" >> {marker}
"""
RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    cooldown: 0s
    actions: [{action: optimize_performance, params: {script: marker}}]
"""


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_anomalies_reserved_by_a_worker_killed_whole_are_decided_once_after_the_stall_time(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE.replace("{marker}", str(marker)))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = stack_env(
        redis_url,
        {
            "SCOPS_RULES_PATH": str(rules),
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(catalogue),
            "SCOPS_EXECUTOR": "local",
            "SCOPS_DRY_RUN": "false",
            "SCOPS_RATE_LIMIT_PER_HOUR": "100",
            "SCOPS_CLAIM_LEASE_S": "2",
            "SCOPS_SWEEP_INTERVAL_S": str(SWEEP_S),
            "SCOPS_REDISPATCH_STALLED_S": str(STALLED_S),
        },
    )
    api = service("remediator", env, log_dir)
    doomed = StackProcess(
        "doomed",
        ["worker", "--concurrency", str(CONCURRENCY)],
        env,
        log_dir / "doomed.log",
        own_group=True,
    )
    live: StackProcess | None = None
    events = [cpu_anomaly(f"web-{n}") for n in range(ANOMALIES_SENT)]
    try:
        api.start().wait_ready()
        doomed.start()
        wait_for(doomed, lambda: " ready." in doomed.log_text(), 60, "the worker to be ready")
        assert doomed.process is not None
        children = pool_children(doomed.process.pid)
        assert len(children) == CONCURRENCY
        for child in children:
            os.kill(child, signal.SIGSTOP)  # no task starts; the parent still reserves
        for event in events:
            sync_redis.xadd(ANOMALIES, encode_event(event))  # as the detector publishes

        def reserved_and_queued() -> bool:
            reserved = int(sync_redis.hlen("unacked"))
            return reserved == CONCURRENCY and int(sync_redis.llen(REMEDIATION_QUEUE)) == (
                ANOMALIES_SENT - CONCURRENCY
            )

        wait_for(doomed, reserved_and_queued, 30, "the worker to reserve its prefetch")
        os.killpg(doomed.process.pid, signal.SIGKILL)  # the parent and its stopped children
        doomed.process.wait(timeout=10)
        killed_at = time.monotonic()
        assert sync_redis.hlen("unacked") == CONCURRENCY  # held until the visibility timeout
        assert remediation_records(sync_redis) == []  # nothing was decided

        live = worker(env, log_dir, tag="-live").start()

        def every_anomaly_succeeded() -> bool:
            done = {
                r.anomaly_id
                for r in remediation_records(sync_redis)
                if r.status == RemediationStatus.SUCCEEDED
            }
            return done == {e.event_id for e in events}

        wait_for(live, every_anomaly_succeeded, BOUND_S, "a decision for every anomaly")
        decided_s = time.monotonic() - killed_at
        print(f"\nreserved anomalies of a worker killed whole: all decided {decided_s:.1f}s later")
        time.sleep(STALLED_S + 2 * SWEEP_S)  # room for a wrong second run to show up
        metrics = httpx.get(f"{api.url}/metrics", timeout=5).text
    finally:
        doomed.stop()
        if live is not None:
            assert live.stop() == 0, live.log_tail()
        api.stop()

    assert decided_s <= BOUND_S
    by_anomaly = _by_anomaly(remediation_records(sync_redis), events)
    for records in by_anomaly.values():  # one decision each, its action run once
        assert [r.status for r in records] == [RemediationStatus.SUCCEEDED]
    assert len(marker.read_text().splitlines()) == ANOMALIES_SENT
    resent = _sample(metrics, "remediation_anomalies_redispatched_total")
    assert resent >= CONCURRENCY  # at least the two the dead worker held
    assert sync_redis.zcard("scops:{remediation}:dispatched") == 0  # nothing left behind


def _by_anomaly(
    records: list[RemediationRecord], events: list[AnomalyEvent]
) -> dict[object, list[RemediationRecord]]:
    grouped: dict[object, list[RemediationRecord]] = defaultdict(list)
    for record in records:
        grouped[record.anomaly_id].append(record)
    assert set(grouped) == {e.event_id for e in events}  # nothing unaccounted for
    return grouped


def _sample(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")
