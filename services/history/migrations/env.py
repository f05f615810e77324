"""Alembic environment: migrations run on the connection the service hands over
(``services.history.store.database.migrate``), never on one of their own."""

from __future__ import annotations

from alembic import context

from services.history.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `scops history migrate` (or the service's start)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
