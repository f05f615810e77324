"""What the history does on a timer: copy the notifier's silences (kept only in Redis, and
removed there once over) and delete what is older than the retention."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from services.history import metrics
from services.history.store.upkeep import Upkeep
from shared.events import utcnow
from shared.streams import PREFIX

log = structlog.get_logger("history.upkeep")

# The notifier's hash of silences (id -> JSON); ended silences are removed from it.
SILENCES_KEY = f"{PREFIX}:{{notifier}}:silences"


async def copy_silences(redis: Redis, upkeep: Upkeep) -> int:
    rows = await redis.hgetall(SILENCES_KEY)
    silences = []
    for raw in rows.values():
        try:
            silences.append(json.loads(raw))
        except ValueError:
            continue
    copied = await upkeep.save_silences(silences, utcnow())
    if copied:
        metrics.RECORDED.labels(kind="silence").inc(copied)
    return copied


async def prune(upkeep: Upkeep, retention_days: float) -> None:
    deleted = await upkeep.prune(utcnow() - timedelta(days=retention_days))
    for table, count in deleted.items():
        if count:
            metrics.RETENTION_DELETED.labels(table=table).inc(count)
            log.info("history_pruned", table=table, count=count)


@dataclass(frozen=True)
class Every:
    """Runs ``job`` now and then every ``seconds`` until stopped; a failure is logged and
    retried at the next turn."""

    seconds: float
    job: Callable[[], Awaitable[object]]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.job()
            except (RedisError, OSError, SQLAlchemyError) as exc:
                name = getattr(self.job, "__name__", "job")
                log.warning("upkeep_failed", job=name, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.seconds)
