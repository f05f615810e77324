"""The schema's migrations go up and down on PostgreSQL and SQLite, and the newest revision is
exactly what the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
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
