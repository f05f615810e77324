"""Writing events into the history: idempotent by event id, whatever order they arrive in.

Every insert is ``INSERT ... ON CONFLICT DO NOTHING`` on the event's key, and the incident's
summary is recomputed from its steps in the same transaction, so an event delivered twice (the
consumer died before acknowledging it) changes nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.history.core.steps import Steps, steps_of
from services.history.core.summary import summarize
from services.history.store.models import AuditRow, Base, IncidentRow, LinkRow, StepRow
from services.history.store.rows import entry_of, incident_values, step_values
from shared.events import Event, RemediationRecord


class HistoryWriter:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.dialect = engine.dialect.name
        self.sessions = sessions

    def _insert(self, table: type[Base]) -> Any:
        maker = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return maker(table)

    async def record(self, event: Event) -> bool:
        """Store what ``event`` adds; False for an event the history does not keep."""
        steps = steps_of(event)
        if steps is None:
            return False
        async with self.sessions.begin() as session:
            if isinstance(event, RemediationRecord):
                await self._audit(session, event)
            await self.apply(session, steps)
        return True

    async def record_steps(self, steps: Steps) -> None:
        async with self.sessions.begin() as session:
            await self.apply(session, steps)

    async def apply(self, session: AsyncSession, steps: Steps) -> uuid.UUID:
        incident = steps.incident_id or await self._resolve(session, steps.via)
        if steps.links:
            links = [{"event_id": str(e), "incident_id": str(incident)} for e in steps.links]
            await session.execute(
                self._insert(LinkRow)
                .values(links)
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
        for stand_in in steps.links:
            if stand_in != incident:
                await self._rehome(session, stand_in, incident)
        rows = [step_values(key, incident, entry) for key, entry in steps.entries]
        await session.execute(
            self._insert(StepRow).values(rows).on_conflict_do_nothing(index_elements=["key"])
        )
        await self.refresh(session, incident)
        return incident

    async def _resolve(self, session: AsyncSession, via: Sequence[uuid.UUID]) -> uuid.UUID:
        """The incident of the first of ``via`` linked to one; else ``via[0]`` stands in."""
        if not via:
            raise ValueError("a step needs an incident or an event naming one")
        result = await session.execute(
            select(LinkRow.event_id, LinkRow.incident_id).where(
                LinkRow.event_id.in_([str(v) for v in via])
            )
        )
        found: dict[str, str] = dict(result.all())
        for candidate in via:
            if str(candidate) in found:
                return uuid.UUID(found[str(candidate)])
        return via[0]

    async def _rehome(
        self, session: AsyncSession, stand_in: uuid.UUID, incident: uuid.UUID
    ) -> None:
        """Steps filed under ``stand_in`` (they arrived before the event that names their real
        incident) move to ``incident``."""
        moved = await session.execute(
            update(StepRow)
            .where(StepRow.incident_id == str(stand_in))
            .values(incident_id=str(incident))
        )
        await session.execute(
            update(LinkRow)
            .where(LinkRow.incident_id == str(stand_in))
            .values(incident_id=str(incident))
        )
        if getattr(moved, "rowcount", 0):
            await session.execute(delete(IncidentRow).where(IncidentRow.id == str(stand_in)))

    async def refresh(self, session: AsyncSession, incident: uuid.UUID) -> None:
        rows = (
            await session.scalars(select(StepRow).where(StepRow.incident_id == str(incident)))
        ).all()
        if not rows:
            return
        values = incident_values(summarize(incident, [entry_of(r) for r in rows]))
        statement = self._insert(IncidentRow).values(values)
        changed = {k: v for k, v in values.items() if k != "id"}
        await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changed))

    async def _audit(self, session: AsyncSession, record: RemediationRecord) -> None:
        values = {
            "event_id": str(record.event_id),
            "occurred_at": record.occurred_at,
            "status": record.status.value,
            "action": record.action,
            "resource_id": record.resource_id[:256],
            "rule": record.rule,
            "anomaly_id": str(record.anomaly_id),
            "blocked_by": record.blocked_by,
            "record": record.model_dump(mode="json"),
        }
        await session.execute(
            self._insert(AuditRow)
            .values(values)
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
