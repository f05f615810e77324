"""Reading the history: incidents by filter, page by page, one incident with its timeline, and
the audit log. Every query runs on indexes; none has a scan limit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.history.core.cursors import (
    audit_cursor,
    incident_cursor,
    read_audit_cursor,
    read_incident_cursor,
)
from services.history.core.summary import ordered
from services.history.store.models import AuditRow, IncidentRow, LinkRow, StepRow
from services.history.store.rows import STEP_COLUMNS, entry_of, summary_of
from shared.events import RemediationRecord
from shared.incidents import AuditPage, Incident, IncidentPage, IncidentSummary


@dataclass(frozen=True)
class IncidentFilter:
    resource_id: str | None = None  # exact, or a prefix ending with '*'
    severities: list[str] = field(default_factory=list)
    status: str | None = None
    kind: str | None = None
    since: datetime | None = None  # opened at or after
    until: datetime | None = None  # opened before
    rule: str | None = None
    action: str | None = None
    outcome: str | None = None

    def where(self) -> list[Any]:
        clauses: list[Any] = []
        if self.resource_id is not None:
            if self.resource_id.endswith("*"):
                prefix = self.resource_id[:-1]
                escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                clauses.append(IncidentRow.resource_id.like(f"{escaped}%", escape="\\"))
                # SQLite's LIKE ignores case (web* found WEB-2 there, not on PostgreSQL): the
                # prefix itself compared exactly, on both.
                if prefix:
                    start = func.substr(IncidentRow.resource_id, 1, len(prefix))
                    clauses.append(start == prefix)
            else:
                clauses.append(IncidentRow.resource_id == self.resource_id)
        if self.severities:
            clauses.append(IncidentRow.severity.in_(self.severities))
        for column, value in (
            (IncidentRow.status, self.status),
            (IncidentRow.kind, self.kind),
            (IncidentRow.rule, self.rule),
            (IncidentRow.action, self.action),
            (IncidentRow.action_outcome, self.outcome),
        ):
            if value is not None:
                clauses.append(column == value)
        if self.since is not None:
            clauses.append(IncidentRow.opened_at >= self.since)
        if self.until is not None:
            clauses.append(IncidentRow.opened_at < self.until)
        return clauses


@dataclass(frozen=True)
class AuditFilter:
    status: str | None = None
    action: str | None = None
    resource_id: str | None = None
    rule: str | None = None
    anomaly_id: str | None = None
    blocked_by: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[Any]:
        clauses: list[Any] = [
            getattr(AuditRow, name) == value
            for name in ("status", "action", "resource_id", "rule", "anomaly_id", "blocked_by")
            if (value := getattr(self, name)) is not None
        ]
        if self.since is not None:
            clauses.append(AuditRow.occurred_at >= self.since)
        if self.until is not None:
            clauses.append(AuditRow.occurred_at < self.until)
        return clauses


class HistoryReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    def _incidents(self, where: IncidentFilter, cursor: str | None) -> Select[IncidentRow]:
        clauses = where.where()
        if cursor is not None:
            opened, ident = read_incident_cursor(cursor)
            clauses.append(
                or_(
                    IncidentRow.opened_at < opened,
                    and_(IncidentRow.opened_at == opened, IncidentRow.id < str(ident)),
                )
            )
        return (
            select(IncidentRow)
            .where(*clauses)
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
        )

    async def incidents(
        self, where: IncidentFilter, limit: int, cursor: str | None = None
    ) -> IncidentPage:
        """Newest first (by the first sample out of range)."""
        async with self.sessions() as session:
            rows = (await session.scalars(self._incidents(where, cursor).limit(limit + 1))).all()
        items = [summary_of(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = items[-1] if items and more else None
        return IncidentPage(
            items=items,
            next_cursor=incident_cursor(last.opened_at, last.id) if last else None,
        )

    async def incident(self, incident_id: uuid.UUID) -> Incident | None:
        """The incident with this id, or the one an event with this id belongs to (a link may
        name an escalation or a decision of it)."""
        async with self.sessions() as session:
            row = await session.get(IncidentRow, str(incident_id))
            if row is None:
                linked = await session.scalar(
                    select(LinkRow.incident_id).where(LinkRow.event_id == str(incident_id))
                )
                row = await session.get(IncidentRow, linked) if linked else None
            if row is None:
                return None
            steps = (
                await session.execute(select(*STEP_COLUMNS).where(StepRow.incident_id == row.id))
            ).all()
        summary = summary_of(row)
        timeline = ordered([entry_of(s) for s in steps])
        return Incident(**summary.model_dump(), timeline=timeline)

    async def audit(self, where: AuditFilter, limit: int, cursor: str | None = None) -> AuditPage:
        """Every remediation record, newest stored first."""
        clauses = where.where()
        if cursor is not None:
            clauses.append(AuditRow.row < read_audit_cursor(cursor))
        query = select(AuditRow).where(*clauses).order_by(AuditRow.row.desc()).limit(limit + 1)
        async with self.sessions() as session:
            rows = (await session.scalars(query)).all()
        items = [RemediationRecord.model_validate(r.record) for r in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(
            items=items, next_cursor=audit_cursor(rows[limit - 1].row) if more else None
        )

    async def each_incident(
        self, where: IncidentFilter, *, timelines: bool, chunk: int = 500
    ) -> AsyncIterator[IncidentSummary]:
        """Every incident matching ``where``, page by page (for exports)."""
        cursor: str | None = None
        while True:
            page = await self.incidents(where, chunk, cursor)
            for item in page.items:
                if timelines:
                    full = await self.incident(item.id)
                    if full is not None:
                        yield full
                else:
                    yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def each_record(
        self, where: AuditFilter, chunk: int = 500
    ) -> AsyncIterator[RemediationRecord]:
        cursor: str | None = None
        while True:
            page = await self.audit(where, chunk, cursor)
            for record in page.items:
                yield record
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
