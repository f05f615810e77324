"""The history: the durable record of incidents, decisions, approvals, actions, notifications,
silences and feedback, written from the streams into PostgreSQL or SQLite (docs/history.md)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.history.api import routes_audit, routes_export, routes_incidents
from services.history.config import HistorySettings
from services.history.errors import BadCursorError, HistoryError, IncidentNotFoundError
from services.history.store.database import create_engine, migrate, ping
from services.history.wiring import build
from shared.logging import configure_logging
from shared.web import problem, setup_app, store_unavailable

# The database not answering (refused, reset, timed out, the pool out of connections while it
# is slow): a 503 to retry, as Redis not answering is on every service.
DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)


def create_app(settings: HistorySettings | None = None) -> FastAPI:
    settings = settings or HistorySettings()
    configure_logging("history", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        engine = create_engine(settings.database_url, pool_size=settings.history_db_pool_size)
        try:
            if settings.history_migrate_on_start:
                await migrate(engine)
            app.state.redis = redis
            app.state.history = history = build(settings, redis, engine)
            async with history.running():
                yield
        finally:
            await engine.dispose()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI history",
        version="0.1.0",
        description="Incidents and everything that followed, kept in a database: timelines, "
        "the audit log, exports.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    async def database_ready() -> None:
        await ping(app.state.history.engine)

    setup_app(app, "history", {"redis": redis_ready, "database": database_ready}, settings=settings)
    app.add_exception_handler(HistoryError, _history_problem)
    for unreachable in DATABASE_UNREACHABLE:
        app.add_exception_handler(unreachable, store_unavailable("the history database"))
    app.include_router(routes_incidents.router)
    app.include_router(routes_audit.router)
    app.include_router(routes_export.router)
    return app


def _history_problem(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IncidentNotFoundError):
        return problem(404, "Not found", str(exc))
    if isinstance(exc, BadCursorError):
        return problem(
            422,
            "Invalid request",
            f"cursor: {exc}",
            errors=[{"field": "cursor", "pointer": "#/cursor", "reason": str(exc)}],
        )
    return problem(500, "Internal error", "the history failed; see its log")
