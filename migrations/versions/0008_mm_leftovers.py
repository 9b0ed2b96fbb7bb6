"""reminder attempts: a reminder whose firing fails is retried with backoff and, after a
bound, marked failed (bot/schedule/ticker.py); `attempts` counts the failed attempts and
`error` keeps the last one's reason, shown by `/incident show`

Revision ID: 0008_mm_leftovers
Revises: 0007_outbox_claim
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_mm_leftovers"
down_revision = "0007_outbox_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        # Existing rows have failed no attempt yet.
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("attempts")
