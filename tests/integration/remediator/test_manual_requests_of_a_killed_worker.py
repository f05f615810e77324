"""A person's request (``POST /remediation/execute``, which ChatOps, Slack and the console use)
whose task was reserved by a Celery worker killed whole is decided within the sweep's bound,
as an anomaly's is: the API notes the request before it queues it, and the sweep sends it
again once it has stalled. Without the note, the task waited out the broker's visibility
timeout (an hour) and the action ran an hour after it was asked.

Same technique as test_reserved_tasks_of_a_killed_worker.py: the worker's pool children are
stopped (SIGSTOP) so that the parent reserves the tasks up to its prefetch and starts none;
then the whole worker is SIGKILLed and a live worker started."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import redis

from shared.events import RemediationStatus
from shared.tasks import REMEDIATION_QUEUE
from tests.integration.remediator.test_reserved_tasks_of_a_killed_worker import (
    BOUND_S,
    CONCURRENCY,
    pool_children,
    stack,
)
from tests.support.records import remediation_records
from tests.support.waiting import wait_for

REQUESTS = 3
TOKEN = "change-me"


def test_manual_requests_reserved_by_a_worker_killed_whole_are_decided_within_the_stall_bound(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    with stack(redis_url, log_dir, tmp_path) as running:
        assert running.doomed.process is not None
        token = running.env.get("SCOPS_INTERNAL_TOKEN", TOKEN)
        children = pool_children(running.doomed.process.pid)
        assert len(children) == CONCURRENCY
        for child in children:
            os.kill(child, signal.SIGSTOP)  # no task starts; the parent still reserves
        subjects = []
        for n in range(REQUESTS):
            answer = httpx.post(
                f"{running.api.url}/remediation/execute",
                json={
                    "action": "optimize_performance",
                    "target": {"instance_ids": [f"i-0abc123def456789{n}"]},
                    "params": {"script": "marker"},
                    "reason": "users report timeouts",
                    "by": "ana",
                },
                headers={"X-Internal-Token": token, "X-Actor-Person": "person:ana"},
                timeout=20,
            )
            assert answer.status_code == 202, answer.text
            subjects.append(answer.json()["anomaly_id"])

        def reserved_and_queued() -> bool:
            reserved = int(sync_redis.hlen("unacked"))
            return reserved == CONCURRENCY and int(sync_redis.llen(REMEDIATION_QUEUE)) == (
                REQUESTS - CONCURRENCY
            )

        wait_for(running.doomed, reserved_and_queued, 30, "the worker to reserve its prefetch")
        killed_at = running.kill_doomed_whole()
        assert sync_redis.hlen("unacked") == CONCURRENCY  # held until the visibility timeout
        assert remediation_records(sync_redis) == []  # nothing was decided

        live = running.start_live_worker(log_dir)

        def decided() -> set[str]:
            return {
                str(r.anomaly_id)
                for r in remediation_records(sync_redis)
                if r.status == RemediationStatus.SUCCEEDED
            }

        wait_for(live, lambda: decided() == set(subjects), BOUND_S, "a decision for every request")
        assert time.monotonic() - killed_at < BOUND_S + 30
