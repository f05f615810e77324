"""The local PostgreSQL the history's tests make throwaway databases on."""

from __future__ import annotations

import os

import asyncpg  # type: ignore[import-untyped]

ADMIN_URL = os.environ.get("SCOPS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def admin(statement: str) -> None:
    """Run one statement as the administrator (CREATE / DROP DATABASE)."""
    connection = await asyncpg.connect(ADMIN_URL, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
