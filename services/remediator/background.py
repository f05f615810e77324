"""The API's periodic sweep: expire approvals nobody decided, send approved actions whose
execution never started (recording ``expired`` instead those not started within
``SCOPS_APPROVED_START_WITHIN_S`` of their approval), poll runs whose poll task was lost,
settle runs whose whole worker died between reserving and sending, drop past maintenance
windows, and refresh the pending approvals gauge. Every step is safe to run from several replicas.

A worker killed whole (its parent process too) leaves its task unacknowledged in the broker
until the visibility timeout (an hour by default), and its run ``reserved`` with the target
locked. Once the run's claim lease has lapsed (nobody renews it) and the run has been in the
reserved index for at least the lease plus ``SCOPS_ABANDONED_MARGIN_S``, the sweep settles it:
the command adopted if it reached SSM, else ``interrupted``, the lock released and the team
told. So such a run is settled within about ``claim_lease_s + abandoned_margin_s +
sweep_interval_s`` of its reservation (50 s with the defaults); the task's late redelivery
finds the claim done and does nothing.

Such a worker also takes with it the anomalies it had reserved and not started, the debounced
rules' re-checks it held until their countdown, and an approved action it had taken out of the
approved index and not yet reserved a run for: no run, only their tasks waiting out the
visibility timeout. The sweep sends again every anomaly (person's request, approved action)
whose decision is not recorded ``SCOPS_REDISPATCH_STALLED_S`` after it was sent (or started),
and every re-check that long after it was due (:mod:`.stores.dispatched`), at most once per
that time and across replicas, same task id and arguments; so it is decided within about
``redispatch_stalled_s + sweep_interval_s`` (65 s with the defaults) plus a live worker's wait
in the queue. An anomaly sent after the task waiting longest in the queue is not sent again: it
may be waiting there."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from services.remediator import metrics
from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores import redis_keys
from services.remediator.stores.dispatched import Stalled
from services.remediator.wiring import Remediator
from shared.tasks import REMEDIATION_QUEUE

log = structlog.get_logger("remediator.sweep")

STALLED_S = 60.0
ABANDONED_PER_SWEEP = 50
REDISPATCHED_PER_SWEEP = 500
# Two API replicas may push their tasks in the other order than they noted them.
QUEUE_ORDER_MARGIN_MS = 1000


def sweep_once(remediator: Remediator) -> dict[str, int]:
    expired = remediator.decisions.expire_due()
    redispatched = remediator.decisions.redispatch_stalled(STALLED_S)
    late_records = remediator.decisions.write_owed()
    cutoff_ms = int((time.time() - STALLED_S) * 1000)
    stalled = [
        run.decode()
        for run in remediator.redis.zrangebyscore(redis_keys.ACTIVE_RUNS, "-inf", cutoff_ms, 0, 100)
    ]
    for run_id in stalled:
        remediator.redis.zadd(redis_keys.ACTIVE_RUNS, {run_id: int(time.time() * 1000)})
        remediator.scheduler.poll(run_id, 0)
    settled = settle_abandoned_runs(remediator)
    resent = redispatch_stalled_anomalies(remediator)
    reverified = remediator.verifier.overdue(STALLED_S)
    remediator.maintenance.purge_past()
    metrics.PENDING_APPROVALS.set(remediator.approvals.count_pending())
    done = {
        "expired": len(expired),
        "redispatched": redispatched,
        "late_records": late_records,
        "repolled": len(stalled),
        "settled": settled,
        "resent": resent,
        "reverified": reverified,
    }
    if any(done.values()):
        log.info("sweep", **done)
    return done


def settle_abandoned_runs(remediator: Remediator) -> int:
    """Runs reserved longer than a lease ago whose attempt is gone; how many were settled."""
    bound_s = remediator.settings.claim_lease_s + remediator.settings.abandoned_margin_s
    cutoff_ms = int((time.time() - bound_s) * 1000)
    run_ids = remediator.redis.zrangebyscore(
        redis_keys.RESERVED_RUNS, "-inf", cutoff_ms, 0, ABANDONED_PER_SWEEP
    )
    claims = remediator.workflow.parts.claims
    settled = 0
    for raw in run_ids:
        run_id = raw.decode()
        try:
            if remediator.runner.settle_abandoned(run_id, claims) is not None:
                settled += 1
        except Exception as exc:  # one bad run must not stop the others; next sweep retries
            log.warning("abandoned_run_not_settled", run_id=run_id, error=str(exc))
    return settled


def redispatch_stalled_anomalies(remediator: Remediator) -> int:
    """Anomalies sent, and debounced rules' re-checks due, longer than the stall time ago whose
    decision is not recorded, sent again (those first due too long ago are dropped instead);
    how many were sent."""
    settings = remediator.settings
    now_ms = int(time.time() * 1000)
    due_before_ms = now_ms - int(settings.redispatch_stalled_s * 1000)
    oldest_queued_ms = remediator.dispatched.oldest_queued_ms(REMEDIATION_QUEUE)
    if oldest_queued_ms is not None:  # what was sent since may still wait in the queue
        due_before_ms = min(due_before_ms, oldest_queued_ms - QUEUE_ORDER_MARGIN_MS)
    stalled = remediator.dispatched.take_stalled(due_before_ms, now_ms, REDISPATCHED_PER_SWEEP)
    give_up_ms = now_ms - int(settings.redispatch_give_up_s * 1000)
    given_up = {item.member for item in stalled if item.first_due_ms < give_up_ms}
    remediator.dispatched.forget(given_up)
    sent = 0
    for item in stalled:
        if item.member in given_up:
            log.warning("stalled_anomaly_dropped", **_described(item))
            continue
        if isinstance(item.sent, ActionRequest):
            remediator.scheduler.execute(item.sent)
        elif item.rule is None:
            remediator.scheduler.handle(item.sent, dry_run=False)
        else:
            remediator.scheduler.recheck(item.sent, item.rule, 0)
        metrics.REDISPATCHED.inc()
        sent += 1
        log.info("stalled_anomaly_resent", **_described(item))
    return sent


def _described(item: Stalled) -> dict[str, str | None]:
    return {
        "anomaly_id": str(item.subject),
        "correlation_id": item.correlation_id,
        "recheck_rule": item.rule,
        "request": item.sent.action if isinstance(item.sent, ActionRequest) else None,
    }


async def sweep_forever(remediator: Remediator, interval_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(sweep_once, remediator)
        except Exception as exc:  # the next sweep may succeed (e.g. Redis back)
            log.warning("sweep_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
