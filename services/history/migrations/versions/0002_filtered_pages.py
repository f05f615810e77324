"""Incident filters walk an index in page order: (column, opened_at, id) for each filtered
column, in place of the column alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FILTERED = ("resource_id", "severity", "status", "rule", "action_outcome")


def upgrade() -> None:
    for column in FILTERED:
        op.drop_index(f"ix_incidents_{column}", table_name="incidents")
        op.create_index(
            f"ix_incidents_{column}_opened_at", "incidents", [column, "opened_at", "id"]
        )


def downgrade() -> None:
    for column in FILTERED:
        op.drop_index(f"ix_incidents_{column}_opened_at", table_name="incidents")
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
