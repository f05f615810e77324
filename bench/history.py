"""The durable history: how fast its consumer writes events from the streams into the
database, and how long the incident pages take with 100,000 incidents stored.

Write rate: a real Redis holds the events of whole incidents (raised, escalated, approval
asked and given, action, verification, notifications, resolution); the history's consumer (the
shared stream consumer writing each read of up to 100 entries in one transaction, one
process) writes them all; events/s wall
and events per CPU second of that process. Page load: 100,000 incidents (and 8 steps each) are
loaded in bulk, a real ``scops serve history`` answers GET /incidents (first page, a filtered
page, a page deep in the cursor chain) and GET /incidents/{id}: median and p95 of 30 requests.
Run on SQLite, and on PostgreSQL when one answers at SCOPS_BENCH_POSTGRES (default the local
server, trust auth).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # type: ignore[import-untyped]
import httpx
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import insert

from scops.local_redis import ensure_redis, free_port
from services.history.consumer import BatchConsumer
from services.history.store.database import create_engine, migrate, sessions
from services.history.store.models import IncidentRow, StepRow
from services.history.store.writer import HistoryWriter
from shared.bus import ConsumerOptions, encode_event
from shared.events import Event
from shared.streams import ANOMALIES, NOTIFICATIONS, REMEDIATIONS
from tests.integration.incident_history.running import STREAM_OF
from tests.support.incident_story import blocked_incident, whole_incident

WRITE_INCIDENTS = 400  # 200 of each story: 2,600 events
STORED = 100_000
STEPS_EACH = 8
REQUESTS = 30
PG_ADMIN = os.environ.get("SCOPS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def write_rate(redis_url: str, database_url: str) -> tuple[int, float, float]:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    start = datetime.now(UTC) - timedelta(days=1)
    events: list[Event] = []
    for i in range(WRITE_INCIDENTS // 2):
        events += whole_incident(f"web-{i}", "cpu_utilization", start + timedelta(seconds=i))
        events += blocked_incident(f"db-{i}", "disk_used", start + timedelta(seconds=i))
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(STREAM_OF[type(event)], encode_event(event))
        await pipe.execute()
    engine = create_engine(database_url)
    await migrate(engine)
    consumer = BatchConsumer(
        redis,
        writer=HistoryWriter(engine, sessions(engine)),
        streams=[ANOMALIES, REMEDIATIONS, NOTIFICATIONS],
        consumer="bench",
        options=ConsumerOptions(batch=100, block_ms=10),
    )
    await consumer.ensure_groups()
    stop = asyncio.Event()
    before = recorded()
    wall, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(consumer.run(stop))  # the service's own loop
    while recorded() - before < len(events):  # noqa: ASYNC110 - the service's own counter
        await asyncio.sleep(0.01)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stop.set()
    await task
    await engine.dispose()
    await redis.aclose()
    return len(events), wall, cpu


def recorded() -> float:
    """Events the history wrote so far in this process (its own counter)."""
    kinds = ("anomaly", "resolution", "record", "notification")
    return sum(
        REGISTRY.get_sample_value("history_events_recorded_total", {"kind": kind}) or 0.0
        for kind in kinds
    )


KINDS = ("first_out_of_range", "anomaly", "notification", "decision", "approval", "action")
SEVERITIES = ("low", "medium", "high", "critical")
OUTCOMES = ("succeeded", "blocked", "verified", "failed", None)


async def load(database_url: str) -> uuid.UUID:
    """100,000 incidents with their steps, in bulk; returns one incident's id."""
    engine = create_engine(database_url)
    await migrate(engine)
    rng = random.Random(1)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    some: uuid.UUID | None = None
    for chunk in range(0, STORED, 5000):
        incidents, steps = [], []
        for i in range(chunk, chunk + 5000):
            ident = uuid.UUID(int=rng.getrandbits(128))
            some = some or ident
            opened = origin + timedelta(minutes=5 * i)
            incidents.append(
                {
                    "id": str(ident),
                    "resource_id": f"i-{i % 3000:05d}",
                    "metric": ("cpu_utilization", "memory_used", "disk_used")[i % 3],
                    "severity": rng.choice(SEVERITIES),
                    "status": "resolved" if i < STORED - 50 else "open",
                    "opened_at": opened,
                    "detected_at": opened + timedelta(seconds=20),
                    "resolved_at": opened + timedelta(minutes=10),
                    "last_event_at": opened + timedelta(minutes=10),
                    "explanation": "cpu_utilization=97.5 is above the expected 20 to 60",
                    "rule": f"rule-{i % 20}",
                    "action": "restart_service",
                    "action_outcome": rng.choice(OUTCOMES),
                    "labels": {"service": "nginx"},
                    "events": STEPS_EACH,
                }
            )
            steps += [
                {
                    "key": f"{ident}:{n}",
                    "incident_id": str(ident),
                    "at": opened + timedelta(seconds=30 * n),
                    "kind": KINDS[n % len(KINDS)],
                    "actor": "remediator",
                    "summary": "restart_service: succeeded (ok)",
                    "status": "succeeded",
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "detail": {"resource_id": f"i-{i % 3000:05d}", "output_excerpt": "ok"},
                }
                for n in range(STEPS_EACH)
            ]
        async with sessions(engine).begin() as session:
            await session.execute(insert(IncidentRow), incidents)
            await session.execute(insert(StepRow), steps)
    await engine.dispose()
    assert some is not None
    return some


def timings(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> str:
    client.get(path, params=params).raise_for_status()  # warm
    taken = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        taken.append((time.perf_counter() - started) * 1000)
    taken.sort()
    return f"median {statistics.median(taken):6.1f} ms, p95 {taken[int(0.95 * len(taken))]:6.1f} ms"


def page_times(redis_url: str, database_url: str, incident: uuid.UUID, log: Path) -> list[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env |= {
        "SCOPS_ENV": "test",
        "SCOPS_REDIS_URL": redis_url,
        "SCOPS_HISTORY_PORT": str(port),
        "SCOPS_HISTORY_DATABASE_URL": database_url,
        "SCOPS_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scops", "serve", "history"], env=env, stdout=out, stderr=out
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:])
                time.sleep(0.2)
            deep = None
            for _ in range(20):  # 20 pages of 50 down the cursor chain
                reply = client.get("/incidents", params={"cursor": deep} if deep else None)
                deep = reply.json()["next_cursor"]
            return [
                f"  GET /incidents (newest 50)              {timings(client, '/incidents')}",
                "  GET /incidents?severity=critical&rule=   "
                + timings(client, "/incidents", {"severity": "critical", "rule": "rule-7"}),
                "  GET /incidents?resource_id=i-00042      "
                + timings(client, "/incidents", {"resource_id": "i-00042"}),
                f"  GET /incidents (page 21 by cursor)      "
                f"{timings(client, '/incidents', {'cursor': deep or ''})}",
                f"  GET /incidents/{{id}} (8 steps)          "
                f"{timings(client, f'/incidents/{incident}')}",
            ]
    finally:
        process.terminate()
        process.wait(timeout=20)


def postgres_database() -> str | None:
    name = f"scops_history_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        connection = await asyncpg.connect(PG_ADMIN, timeout=3)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        connection = await asyncpg.connect(PG_ADMIN, timeout=3)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def bench(label: str, redis_url: str, fresh: str, loaded: str, log: Path) -> None:
    events, wall, cpu = asyncio.run(write_rate(redis_url, fresh))
    print(
        f"history on {label}: consumer wrote {events} events in {wall:.2f} s: "
        f"{events / wall:,.0f} events/s wall, {events / cpu:,.0f} events per CPU second "
        "of the consumer process"
    )
    started = time.perf_counter()
    incident = asyncio.run(load(loaded))
    print(
        f"  {STORED:,} incidents ({STORED * STEPS_EACH:,} steps) loaded in bulk in "
        f"{time.perf_counter() - started:.0f} s; page load times (HTTP, one process):"
    )
    for line in page_times(redis_url, loaded, incident, log):
        print(line)


def main() -> None:
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with tempfile.TemporaryDirectory(prefix="scops-history-bench-") as tmp:
            root = Path(tmp)
            bench(
                "SQLite",
                handle.url,
                f"sqlite+aiosqlite:///{root / 'write.db'}",
                f"sqlite+aiosqlite:///{root / 'loaded.db'}",
                root / "history-sqlite.log",
            )
            fresh, loaded = postgres_database(), postgres_database()
            if fresh is None or loaded is None:
                print(f"history on PostgreSQL: skipped, none answers at {PG_ADMIN}")
                return
            try:
                bench("PostgreSQL", handle.url, fresh, loaded, root / "history-pg.log")
            finally:
                drop_postgres(fresh)
                drop_postgres(loaded)
    finally:
        handle.stop()


if __name__ == "__main__":
    main()
