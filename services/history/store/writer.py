"""Writing events into the history: idempotent by event id, whatever order they arrive in.

Every insert is ``INSERT ... ON CONFLICT DO NOTHING`` on the event's key, and each incident's
summary is recomputed from its steps in the same transaction, so an event delivered twice (the
consumer died before acknowledging it) changes nothing the second time. A batch of events is
written with a handful of statements whatever its size: links looked up at once, steps, links
and audit records inserted in one statement each, the incidents touched re-read and upserted
at once.

An event that names its incident through another event not recorded yet (a decision about an
escalation that has not arrived) is filed under that event's id as a stand-in; when the event
arrives and names the real incident, what was filed under the stand-in moves there.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.history.core.steps import Steps, steps_of
from services.history.core.summary import summarize
from services.history.store.models import AuditRow, Base, IncidentRow, LinkRow, StepRow
from services.history.store.rows import STEP_COLUMNS, entry_of, incident_values, step_values
from shared.events import Event, RemediationRecord


class HistoryWriter:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.dialect = engine.dialect.name
        self.sessions = sessions

    def _insert(self, table: Any) -> Any:
        maker = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return maker(table)

    async def record(self, event: Event) -> bool:
        """Store what ``event`` adds; False for an event the history does not keep."""
        return await self.record_many([event]) == 1

    async def record_many(self, events: Sequence[Event]) -> int:
        """Store what ``events`` add, in order, in one transaction; returns how many the
        history keeps."""
        steps = [s for s in map(steps_of, events) if s is not None]
        records = [e for e in events if isinstance(e, RemediationRecord)]
        if steps:
            async with self.sessions.begin() as session:
                await self._audit(session, records)
                await self.write(session, steps)
        return len(steps)

    async def record_steps(self, steps: Steps) -> None:
        async with self.sessions.begin() as session:
            await self.write(session, [steps])

    async def write(self, session: AsyncSession, batch: Sequence[Steps]) -> None:
        known = await self._links(session, {v for s in batch for v in s.via})
        moves: dict[uuid.UUID, uuid.UUID] = {}
        placed: list[tuple[uuid.UUID, Steps]] = []
        for steps in batch:
            incident = steps.incident_id or _via(steps.via, known)
            incident = _follow(moves, incident)
            for link in steps.links:
                if link != incident:
                    moves[link] = incident
                known[link] = incident
            placed.append((incident, steps))
        final = [(_follow(moves, incident), steps) for incident, steps in placed]
        await self._rehome(session, moves)
        links = {
            str(link): {"event_id": str(link), "incident_id": str(incident)}
            for incident, steps in final
            for link in steps.links
        }
        await self._insert_new(session, LinkRow, "event_id", links.values())
        rows = {
            key: step_values(key, incident, entry)
            for incident, steps in final
            for key, entry in steps.entries
        }
        await self._insert_new(session, StepRow, "key", rows.values())
        await self.refresh(session, {incident for incident, _ in final})

    async def _links(
        self, session: AsyncSession, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        if not ids:
            return {}
        result = await session.execute(
            select(LinkRow.event_id, LinkRow.incident_id).where(
                LinkRow.event_id.in_([str(i) for i in ids])
            )
        )
        return {uuid.UUID(event): uuid.UUID(incident) for event, incident in result.all()}

    async def _rehome(self, session: AsyncSession, moves: dict[uuid.UUID, uuid.UUID]) -> None:
        """What earlier batches filed under a stand-in moves to its incident."""
        if not moves:
            return
        filed = await session.scalars(
            select(StepRow.incident_id)
            .where(StepRow.incident_id.in_([str(m) for m in moves]))
            .distinct()
        )
        for stand_in in filed.all():
            incident = str(_follow(moves, uuid.UUID(stand_in)))
            await session.execute(
                update(StepRow).where(StepRow.incident_id == stand_in).values(incident_id=incident)
            )
            # Links point at a stand-in only beside steps filed under it.
            await session.execute(
                update(LinkRow).where(LinkRow.incident_id == stand_in).values(incident_id=incident)
            )
            await session.execute(delete(IncidentRow).where(IncidentRow.id == stand_in))

    async def _insert_new(
        self, session: AsyncSession, table: type[Base], key: str, rows: Iterable[dict[str, Any]]
    ) -> None:
        """Insert the rows whose ``key`` is not there yet (one statement, compiled once and
        cached, sent with many parameter sets)."""
        rows = list(rows)
        if rows:
            statement = self._insert(table.__table__).on_conflict_do_nothing(index_elements=[key])
            await session.execute(statement, rows)

    async def refresh(self, session: AsyncSession, incidents: set[uuid.UUID]) -> None:
        """Work the incidents' summaries out again from all their steps.

        Two transactions (the anomalies' and the remediations' consumers) may write steps of one
        incident at once; each would work the summary out from the steps it sees, and the one
        committing last would drop the other's. On PostgreSQL each incident's summary is worked
        out under a lock held to the commit (``pg_advisory_xact_lock``, taken in one order), so
        the second waits, then reads the first's steps (read committed: each statement sees
        what was committed before it). SQLite writes one transaction at a time."""
        if not incidents:
            return
        if self.dialect == "postgresql":
            keys = sorted(_lock_key(i) for i in incidents)
            await session.execute(
                text(
                    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) k"
                ),
                {"keys": keys},
            )
        result = await session.execute(
            select(StepRow.incident_id, *STEP_COLUMNS).where(
                StepRow.incident_id.in_([str(i) for i in incidents])
            )
        )
        timelines = defaultdict(list)
        for row in result.all():
            timelines[row.incident_id].append(entry_of(row))
        values = [
            incident_values(summarize(uuid.UUID(ident), entries))
            for ident, entries in timelines.items()
        ]
        if values:
            statement = self._insert(IncidentRow.__table__)
            changed = {c: statement.excluded[c] for c in values[0] if c != "id"}
            upsert = statement.on_conflict_do_update(index_elements=["id"], set_=changed)
            await session.execute(upsert, values)

    async def _audit(self, session: AsyncSession, records: Sequence[RemediationRecord]) -> None:
        rows = {
            str(r.event_id): {
                "event_id": str(r.event_id),
                "occurred_at": r.occurred_at,
                "status": r.status.value,
                "action": r.action,
                "resource_id": r.resource_id[:256],
                "rule": r.rule,
                "anomaly_id": str(r.anomaly_id),
                "blocked_by": r.blocked_by,
                "record": r.model_dump(mode="json"),
            }
            for r in records
        }
        await self._insert_new(session, AuditRow, "event_id", rows.values())


def _via(via: Sequence[uuid.UUID], known: dict[uuid.UUID, uuid.UUID]) -> uuid.UUID:
    """The incident of the first of ``via`` linked to one; else ``via[0]`` stands in."""
    if not via:
        raise ValueError("a step needs an incident or an event naming one")
    return next((known[v] for v in via if v in known), via[0])


def _follow(moves: dict[uuid.UUID, uuid.UUID], incident: uuid.UUID) -> uuid.UUID:
    seen = set()
    while incident in moves and incident not in seen:
        seen.add(incident)
        incident = moves[incident]
    return incident


def _lock_key(incident: uuid.UUID) -> int:
    """A 64-bit advisory lock key of an incident (its id's first half, signed)."""
    return int.from_bytes(incident.bytes[:8], "big", signed=True)
