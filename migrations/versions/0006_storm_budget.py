"""storm budget: a team's alert lines per window and its "and N more" messages, shared by
replicas (alert_budget, alert_overflow)

Revision ID: 0006_storm_budget
Revises: 0005_alerts_dm
Create Date: 2026-12-02 02:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store.types

revision = "0006_storm_budget"
down_revision = "0005_alerts_dm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_budget",
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window_start", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team", "window_start", name=op.f("pk_alert_budget")),
    )
    op.create_table(
        "alert_overflow",
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window_start", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("more", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint(
            "team", "window_start", "incident_number", name=op.f("pk_alert_overflow")
        ),
    )


def downgrade() -> None:
    op.drop_table("alert_overflow")
    op.drop_table("alert_budget")
