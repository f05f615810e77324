"""Databases for the history's tests: a throwaway PostgreSQL database per test on the local
server (``SCOPS_TEST_POSTGRES``, default postgresql://postgres@127.0.0.1:5432; skipped with the
reason when none answers), all dropped at the end of the session, and an SQLite file per test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.history.store.database import create_engine, migrate
from tests.support.postgres_admin import ADMIN_URL, admin

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Callable[[], str]]:
    """Makes throwaway databases on the local PostgreSQL; drops them all at the end."""
    try:
        asyncio.run(admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"no PostgreSQL answers at {ADMIN_URL}: {type(exc).__name__}: {exc}")
    made: list[str] = []
    prefix = f"scops_history_test_{os.getpid()}"

    def make() -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        made.append(name)
        base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    yield make
    for name in made:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind (the test runs once per kind)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres")
    return make()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database with the schema migrated to the newest revision."""
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()
