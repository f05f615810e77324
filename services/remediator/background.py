"""The API's periodic sweep: expire approvals nobody decided, send approved actions whose
execution never started, poll runs whose poll task was lost, drop past maintenance windows,
and refresh the pending approvals gauge. Every step is safe to run from several replicas."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from services.remediator import keys, metrics
from services.remediator.wiring import Remediator

log = structlog.get_logger("remediator.sweep")

STALLED_S = 60.0


def sweep_once(remediator: Remediator) -> dict[str, int]:
    expired = remediator.decisions.expire_due()
    redispatched = remediator.decisions.redispatch_stalled(STALLED_S)
    cutoff_ms = int((time.time() - STALLED_S) * 1000)
    stalled = [
        run.decode()
        for run in remediator.redis.zrangebyscore(keys.ACTIVE_RUNS, "-inf", cutoff_ms, 0, 100)
    ]
    for run_id in stalled:
        remediator.redis.zadd(keys.ACTIVE_RUNS, {run_id: int(time.time() * 1000)})
        remediator.scheduler.poll(run_id, 0)
    reverified = remediator.verifier.overdue(STALLED_S)
    remediator.maintenance.purge_past()
    metrics.PENDING_APPROVALS.set(remediator.approvals.count_pending())
    done = {
        "expired": len(expired),
        "redispatched": redispatched,
        "repolled": len(stalled),
        "reverified": reverified,
    }
    if any(done.values()):
        log.info("sweep", **done)
    return done


async def sweep_forever(remediator: Remediator, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(sweep_once, remediator)
        except Exception as exc:  # the next sweep may succeed (e.g. Redis back)
            log.warning("sweep_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
