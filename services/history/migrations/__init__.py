"""Alembic migrations of the history database (applied by ``scops history migrate`` or at start)."""
