"""A whole Celery worker (its parent process too) SIGKILLed while it holds tasks it has
reserved from the broker but not started: anomalies, or a debounced rule's re-check waiting for
its countdown. Their tasks sit in the broker's unacknowledged set until the visibility timeout
(an hour), and no started claim of theirs exists for the sweep to take over. The API's sweep
sends them again once they are undecided ``SCOPS_REDISPATCH_STALLED_S`` after they were sent
(or due): every anomaly gets its decision within that bound, and no action runs twice.

The worker provably holds reserved, unstarted anomalies: its pool children are stopped
(SIGSTOP) before the anomalies reach the stream, so the parent reserves as many as its prefetch
allows (kombu's ``unacked`` hash) and hands none over. A re-check is reserved by the worker as
soon as it is sent, and held until its countdown ends."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from shared.bus import encode_event
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus
from shared.streams import ANOMALIES
from shared.tasks import REMEDIATION_QUEUE
from tests.support.events import cpu_anomaly
from tests.support.local_remediator import local_executor_env
from tests.support.processes import StackProcess, service, worker
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
policy: {blast_radius: off}  # every anomaly acts: what is measured is when
rules:
  - name: cpu
    match: {metric: cpu_*}
    cooldown: 0s
    actions: [{action: optimize_performance, params: {script: marker}}]
  - name: memory-lasting
    match: {metric: mem_*}
    for: 3s
    cooldown: 0s
    actions: [{action: optimize_performance, params: {script: marker}}]
"""
RECHECK_S = 3.0  # memory-lasting's ``for``


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@dataclass
class Stack:
    api: StackProcess
    doomed: StackProcess  # a worker in a process group of its own
    env: dict[str, str]
    marker: Path  # a line per action run
    live: StackProcess | None = None

    def kill_doomed_whole(self) -> float:
        """SIGKILL to the worker's parent and its pool children; the monotonic time after."""
        assert self.doomed.process is not None
        os.killpg(self.doomed.process.pid, signal.SIGKILL)
        self.doomed.process.wait(timeout=10)
        return time.monotonic()

    def start_live_worker(self, log_dir: Path) -> StackProcess:
        self.live = worker(self.env, log_dir, tag="-live").start()
        return self.live


@contextmanager
def stack(redis_url: str, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The remediator API (sweeping every second, a 3 s stall time) and a doomed worker, both
    ready; the local executor runs the catalogue's marker script."""
    marker = tmp_path / "ran.txt"
    env = local_executor_env(
        redis_url,
        tmp_path,
        RULES,
        CATALOGUE.replace("{marker}", str(marker)),
        {
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
    running = Stack(api, doomed, env, marker)
    try:
        api.start().wait_ready()
        doomed.start()
        wait_for(doomed, lambda: " ready." in doomed.log_text(), 60, "the worker to be ready")
        yield running
    finally:
        live_exit = None
        try:
            doomed.stop()
            if running.live is not None:
                live_exit = running.live.stop()
        finally:
            api.stop()  # also when stopping a worker failed: nothing started is left behind
        if running.live is not None:
            assert live_exit == 0, running.live.log_tail()


def test_anomalies_reserved_by_a_worker_killed_whole_are_decided_once_after_the_stall_time(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    events = [cpu_anomaly(f"web-{n}") for n in range(ANOMALIES_SENT)]
    with stack(redis_url, log_dir, tmp_path) as running:
        assert running.doomed.process is not None
        children = pool_children(running.doomed.process.pid)
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

        wait_for(running.doomed, reserved_and_queued, 30, "the worker to reserve its prefetch")
        killed_at = running.kill_doomed_whole()
        assert sync_redis.hlen("unacked") == CONCURRENCY  # held until the visibility timeout
        assert remediation_records(sync_redis) == []  # nothing was decided

        live = running.start_live_worker(log_dir)

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
        metrics = httpx.get(f"{running.api.url}/metrics", timeout=5).text

    assert decided_s <= BOUND_S
    by_anomaly = _by_anomaly(remediation_records(sync_redis), events)
    for records in by_anomaly.values():  # one decision each, its action run once
        assert [r.status for r in records] == [RemediationStatus.SUCCEEDED]
    assert len(running.marker.read_text().splitlines()) == ANOMALIES_SENT
    resent = _sample(metrics, "remediation_anomalies_redispatched_total")
    assert resent >= CONCURRENCY  # at least the two the dead worker held
    assert sync_redis.zcard("scops:{remediation}:dispatched") == 0  # nothing left behind


def test_a_recheck_held_by_a_worker_killed_whole_is_sent_again_once_due(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    event = cpu_anomaly("db-1", metric="mem_used")
    with stack(redis_url, log_dir, tmp_path) as running:
        sync_redis.xadd(ANOMALIES, encode_event(event))

        def waiting_for_the_recheck() -> bool:
            proposed = [
                r for r in remediation_records(sync_redis) if r.status == RemediationStatus.PROPOSED
            ]
            return bool(proposed) and int(sync_redis.hlen("unacked")) == 1

        wait_for(running.doomed, waiting_for_the_recheck, 30, "the re-check to be reserved")
        proposed_at = time.monotonic()
        killed_at = running.kill_doomed_whole()
        live = running.start_live_worker(log_dir)

        def succeeded() -> bool:
            return any(
                r.status == RemediationStatus.SUCCEEDED for r in remediation_records(sync_redis)
            )

        wait_for(live, succeeded, RECHECK_S + BOUND_S, "the re-check's decision")
        decided_s = time.monotonic() - proposed_at
        print(f"\nre-check held by a worker killed whole: decided {decided_s:.1f}s after proposed")
        time.sleep(STALLED_S + 2 * SWEEP_S)  # room for a wrong second run to show up

    assert killed_at - proposed_at < RECHECK_S  # killed while the re-check waited
    statuses = [r.status for r in remediation_records(sync_redis)]
    assert statuses == [RemediationStatus.PROPOSED, RemediationStatus.SUCCEEDED]
    assert len(running.marker.read_text().splitlines()) == 1
    assert sync_redis.zcard("scops:{remediation}:dispatched") == 0


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
