"""Silences copied in, and retention: deleting what is older than it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.history.store.models import AuditRow, IncidentRow, LinkRow, SilenceRow, StepRow
from shared.events import UtcDatetime

WHEN = TypeAdapter(UtcDatetime)
CHUNK = 500


class Upkeep:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.dialect = engine.dialect.name
        self.sessions = sessions

    async def save_silences(self, silences: list[dict[str, Any]], seen_at: datetime) -> int:
        """Insert new silences, update the end of known ones; returns how many were new or
        had a new end (read again unchanged at every poll, a silence is not news)."""
        rows = []
        for s in silences:
            try:
                rows.append(
                    {
                        "id": str(s["id"])[:64],
                        "matchers": dict(s.get("matchers") or {}),
                        "created_by": str(s.get("created_by", ""))[:256],
                        "comment": str(s.get("comment", "")),
                        "starts_at": WHEN.validate_python(s["starts_at"]),
                        "ends_at": WHEN.validate_python(s["ends_at"]),
                        "seen_at": seen_at,
                    }
                )
            except (KeyError, TypeError, ValueError, ValidationError):
                continue
        if not rows:
            return 0
        maker = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = maker(SilenceRow).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"ends_at": statement.excluded.ends_at, "seen_at": statement.excluded.seen_at},
        )
        async with self.sessions.begin() as session:
            known = select(SilenceRow.id, SilenceRow.ends_at).where(
                SilenceRow.id.in_([row["id"] for row in rows])
            )
            ends = {str(i): end for i, end in (await session.execute(known)).all()}
            await session.execute(statement)
        return len([row for row in rows if ends.get(str(row["id"])) != row["ends_at"]])

    async def prune(self, before: datetime) -> dict[str, int]:
        """Delete incidents whose newest step is older than ``before`` (with their steps and
        links), audit records and silences older than it, a chunk per transaction."""
        deleted = {"incidents": 0, "audit": 0, "silences": 0}
        while True:
            async with self.sessions.begin() as session:
                ids = (
                    await session.scalars(
                        select(IncidentRow.id)
                        .where(IncidentRow.last_event_at < before)
                        .limit(CHUNK)
                    )
                ).all()
                if not ids:
                    break
                await session.execute(delete(StepRow).where(StepRow.incident_id.in_(ids)))
                await session.execute(delete(LinkRow).where(LinkRow.incident_id.in_(ids)))
                await session.execute(delete(IncidentRow).where(IncidentRow.id.in_(ids)))
                deleted["incidents"] += len(ids)
        async with self.sessions.begin() as session:
            audit = await session.execute(delete(AuditRow).where(AuditRow.occurred_at < before))
            ended = await session.execute(delete(SilenceRow).where(SilenceRow.ends_at < before))
            deleted["audit"] = int(getattr(audit, "rowcount", 0) or 0)
            deleted["silences"] = int(getattr(ended, "rowcount", 0) or 0)
        return deleted
