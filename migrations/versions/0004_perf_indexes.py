"""indexes: incident.declared_at for `warroom report`; drop incident_number indexes that
duplicate the leading column of another index or unique constraint on the same table

Revision ID: 0004_perf
Revises: 0004_alerts
Create Date: 2026-12-01 22:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004_perf"
down_revision = "0004_durable"
branch_labels = None
depends_on = None

# table -> its redundant index (the comment names what already leads with incident_number)
REDUNDANT = {
    "timeline_event": "ix_timeline_event_incident_number",  # ix_timeline_event_order
    "participant": "ix_participant_incident_number",  # uq_participant
    "task": "ix_task_incident_number",  # uq_task_position
}


def upgrade() -> None:
    # Plain index DDL: SQLite runs CREATE/DROP INDEX in place, no batch table copy needed.
    op.create_index("ix_incident_declared_at", "incident", ["declared_at"], unique=False)
    for table, index in REDUNDANT.items():
        op.drop_index(index, table_name=table)


def downgrade() -> None:
    for table, index in REDUNDANT.items():
        op.create_index(index, table, ["incident_number"], unique=False)
    op.drop_index("ix_incident_declared_at", table_name="incident")
