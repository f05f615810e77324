"""A history service as a real process (``scops serve history``) on a real Redis and database,
and what tests send it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import func, select

from scops.local_redis import free_port
from services.history.store.database import create_engine, sessions
from services.history.store.models import AuditRow, IncidentRow, StepRow
from shared.bus import encode_event
from shared.events import AnomalyEvent, AnomalyResolved, Event, Notification, RemediationRecord
from shared.streams import ANOMALIES, NOTIFICATIONS, REMEDIATIONS
from tests.support.processes import StackProcess, service, stack_env

STREAM_OF: dict[type, str] = {
    AnomalyEvent: ANOMALIES,
    AnomalyResolved: ANOMALIES,
    RemediationRecord: REMEDIATIONS,
    Notification: NOTIFICATIONS,
}


def history_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    env = stack_env(
        redis_url,
        {
            "SCOPS_HISTORY_PORT": str(free_port()),
            "SCOPS_HISTORY_DATABASE_URL": database_url,
            "SCOPS_CLAIM_IDLE_MS": "1000",
            "SCOPS_HISTORY_SILENCE_POLL_S": "0.5",
        },
    )
    env.update(extra)
    return env


def history_process(env: dict[str, str], log_dir: Path, tag: str = "") -> StackProcess:
    process = service("history", env, log_dir)
    process.log_path = log_dir / f"history{tag}.log"
    return process


def publish(redis_url: str, events: Iterable[Event]) -> None:
    """Each event on the stream its service writes it to, in one round trip."""
    client = redis.Redis.from_url(redis_url)
    try:
        with client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(STREAM_OF[type(event)], encode_event(event))
            pipe.execute()
    finally:
        client.close()


@dataclass(frozen=True)
class Counts:
    incidents: int
    steps: int
    audit: int


def counts(database_url: str) -> Counts:
    """What the database holds, read directly."""

    async def read() -> Counts:
        engine = create_engine(database_url)
        try:
            async with sessions(engine)() as session:
                found = [
                    int(await session.scalar(select(func.count()).select_from(t)) or 0)
                    for t in (IncidentRow, StepRow, AuditRow)
                ]
        finally:
            await engine.dispose()
        return Counts(*found)

    return asyncio.run(read())
