"""The tables of the history (SQLAlchemy 2 declarative models).

``steps`` is the record: one row per timeline step, unique by the event (or log entry) it came
from, so a redelivered event adds nothing. ``incidents`` is their summary, recomputed from the
steps. ``links`` maps every event id to its incident, so later events that name it (a record
names its anomaly, a notification its sources) find their incident. ``audit`` keeps every
remediation record whole, for the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.history.store.types import UtcDateTime

# Row ids: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite, which autoincrements only
# an INTEGER PRIMARY KEY.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime}


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="anomaly", server_default="anomaly")
    resource_id: Mapped[str] = mapped_column(String(256))
    metric: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    detected_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime] = mapped_column(index=True)
    explanation: Mapped[str] = mapped_column(Text, default="")
    rule: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str | None] = mapped_column(String(128))
    action_outcome: Mapped[str | None] = mapped_column(String(32))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    events: Mapped[int] = mapped_column(Integer, default=0)

    # Each filter walks its own index in page order (newest first), so a filtered page reads
    # only the rows it shows, however many incidents are stored.
    __table_args__ = (
        Index("ix_incidents_opened_at_id", "opened_at", "id"),
        *(
            Index(f"ix_incidents_{column}_opened_at", column, "opened_at", "id")
            for column in ("resource_id", "severity", "status", "rule", "action_outcome", "kind")
        ),
    )


class StepRow(Base):
    __tablename__ = "steps"

    row: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]


class LinkRow(Base):
    __tablename__ = "links"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(36), index=True)


class AuditRow(Base):
    __tablename__ = "audit"

    row: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str | None] = mapped_column(String(128))
    resource_id: Mapped[str] = mapped_column(String(256), index=True)
    rule: Mapped[str | None] = mapped_column(String(128))
    anomaly_id: Mapped[str] = mapped_column(String(36), index=True)
    blocked_by: Mapped[str | None] = mapped_column(String(128))
    record: Mapped[dict[str, Any]]


class SilenceRow(Base):
    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matchers: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    seen_at: Mapped[datetime]
