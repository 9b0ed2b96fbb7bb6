"""outbox claim: a partial index on (lane, id) of pending rows, which the claim walks lane by
lane (bot/store/outbox.py), so that a claim costs a probe per lane and per row it takes

Revision ID: 0007_outbox_claim
Revises: 0006_storm_budget
Create Date: 2026-12-02 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_outbox_claim"
down_revision = "0006_storm_budget"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # Plain index DDL: SQLite creates and drops indexes in place, no batch table copy needed.
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["lane", "id"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
