"""The API's gauges of shared state, read from Redis every few seconds: the safety layer
(breaker, cooldowns, locks, the rolling hour's actions against the limit) and the length of
the workers' Celery queue. Every replica reads the same figures."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from services.remediator import metrics
from services.remediator.wiring import Remediator
from shared.tasks import REMEDIATION_QUEUE

log = structlog.get_logger("remediator.gauges")

GAUGES_EVERY_S = 5.0


def refresh_gauges(remediator: Remediator) -> None:
    state = remediator.safety.state()
    metrics.BREAKER_OPEN.set(1 if state.breaker is not None else 0)
    metrics.COOLDOWNS_ACTIVE.set(len(state.cooldowns))
    metrics.LOCKS_ACTIVE.set(len(state.locks))
    metrics.ACTIONS_HOUR_USED.set(state.actions_used)
    metrics.RATE_LIMIT_PER_HOUR.set(state.rate_limit)
    # Celery's Redis transport keeps a queue's waiting messages in a list named after it.
    metrics.QUEUE_LENGTH.set(int(remediator.redis.llen(REMEDIATION_QUEUE)))


async def refresh_forever(
    remediator: Remediator, stop: asyncio.Event, interval_s: float = GAUGES_EVERY_S
) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(refresh_gauges, remediator)
        except Exception as exc:  # Redis away: the next round tries again
            log.warning("gauges_refresh_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
