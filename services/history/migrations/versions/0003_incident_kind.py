"""Incidents have a kind: ``anomaly`` (an episode of a series) or ``manual`` (a remediation a
person asked for with no anomaly behind it). A manual request is open while its action waits or
runs and ``closed`` once it ended, no longer an open incident for ever.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="anomaly"))
    # What was recorded before: manual requests have the remediator's metric "manual" and no
    # anomaly step (never detected, never resolved).
    op.execute(
        "UPDATE incidents SET kind = 'manual', status = CASE WHEN action_outcome IN "
        "('proposed', 'pending_approval', 'approved', 'running') THEN 'open' ELSE 'closed' END "
        "WHERE metric = 'manual' AND detected_at IS NULL AND resolved_at IS NULL"
    )
    op.create_index("ix_incidents_kind_opened_at", "incidents", ["kind", "opened_at", "id"])


def downgrade() -> None:
    op.execute("UPDATE incidents SET status = 'resolved' WHERE status = 'closed'")
    op.drop_index("ix_incidents_kind_opened_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("kind")
