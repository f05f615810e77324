"""The schema's migrations go up and down on PostgreSQL and SQLite, and the newest revision is
exactly what the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.history.store.database import create_engine, downgrade, migrate
from services.history.store.models import Base

TABLES = {"incidents", "steps", "links", "audit", "silences"}


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        assert await tables(engine) == TABLES
        await migrate(engine)  # nothing pending: a second start changes nothing
        await downgrade(engine, "0001")  # one revision down and up again
        assert await tables(engine) == TABLES
        await migrate(engine)
        await downgrade(engine, "base")
        assert await tables(engine) == set()
        await migrate(engine)
        assert await tables(engine) == TABLES
    finally:
        await engine.dispose()


async def test_the_migrated_schema_is_what_the_models_say(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert differences == []


async def test_manual_requests_recorded_before_kinds_existed_are_no_longer_open(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    row = (
        "INSERT INTO incidents (id, resource_id, metric, severity, status, opened_at, "
        "last_event_at, explanation, action_outcome, labels, events) VALUES "
        "(:id, :resource, :metric, 'medium', 'open', :at, :at, '', :outcome, '{}', 2)"
    )
    at = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
    try:
        await migrate(engine, "0002")
        async with engine.begin() as conn:
            for ident, resource, metric, outcome in (
                ("1", "web-asg", "manual", "dry_run"),
                ("2", "api-asg", "manual", "pending_approval"),
                ("3", "db-1", "cpu_utilization", "blocked"),
            ):
                await conn.execute(
                    text(row),
                    {
                        "id": ident,
                        "resource": resource,
                        "metric": metric,
                        "at": at,
                        "outcome": outcome,
                    },
                )
        await migrate(engine)
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT id, kind, status FROM incidents ORDER BY id"))
            assert [tuple(r) for r in found] == [
                ("1", "manual", "closed"),
                ("2", "manual", "open"),
                ("3", "anomaly", "open"),
            ]
    finally:
        await engine.dispose()


def _scops_history(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/h.db"}
    return subprocess.run(
        [sys.executable, "-m", "scops", "history", "migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_says_in_one_line_what_is_wrong_with_its_arguments(tmp_path: Path) -> None:
    unknown = _scops_history(tmp_path, "--revision", "nonexistent")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "history migrate: Can't locate revision identified by 'nonexistent'"
    )
    nowhere = _scops_history(tmp_path, "--down")
    assert nowhere.returncode == 2
    assert "--down needs --revision" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr and "downgraded" not in nowhere.stdout
    done = _scops_history(tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "history schema migrated to head")
