"""Incidents, their steps, event links, the audit log and silences.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.history.store.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("resource_id", sa.String(256), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("detected_at", UtcDateTime(), nullable=True),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("last_event_at", UtcDateTime(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("action", sa.String(128), nullable=True),
        sa.Column("action_outcome", sa.String(32), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
    )
    op.create_index("ix_incidents_resource_id", "incidents", ["resource_id"])
    op.create_index("ix_incidents_severity", "incidents", ["severity"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_last_event_at", "incidents", ["last_event_at"])
    op.create_index("ix_incidents_rule", "incidents", ["rule"])
    op.create_index("ix_incidents_action_outcome", "incidents", ["action_outcome"])
    op.create_index("ix_incidents_opened_at_id", "incidents", ["opened_at", "id"])

    op.create_table(
        "steps",
        sa.Column("row", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_steps_incident_id", "steps", ["incident_id"])

    op.create_table(
        "links",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_links_incident_id", "links", ["incident_id"])

    op.create_table(
        "audit",
        sa.Column("row", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("action", sa.String(128), nullable=True),
        sa.Column("resource_id", sa.String(256), nullable=False),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("anomaly_id", sa.String(36), nullable=False),
        sa.Column("blocked_by", sa.String(128), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_occurred_at", "audit", ["occurred_at"])
    op.create_index("ix_audit_status", "audit", ["status"])
    op.create_index("ix_audit_resource_id", "audit", ["resource_id"])
    op.create_index("ix_audit_anomaly_id", "audit", ["anomaly_id"])

    op.create_table(
        "silences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_table("silences")
    op.drop_table("audit")
    op.drop_table("links")
    op.drop_table("steps")
    op.drop_table("incidents")
