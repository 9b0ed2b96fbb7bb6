"""indexes for alerts: a service's open incident by key (ix_incident_service); drop
ix_alert_group_id, which repeats the leading column of uq_alert_fingerprint

Revision ID: 0005_alerts_dm
Revises: 0004_perf
Create Date: 2026-12-02 01:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005_alerts_dm"
down_revision = "0004_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain index DDL: SQLite runs CREATE/DROP INDEX in place, no batch table copy needed.
    op.create_index("ix_incident_service", "incident", ["service", "number"], unique=False)
    op.drop_index("ix_alert_group_id", table_name="alert")


def downgrade() -> None:
    op.create_index("ix_alert_group_id", "alert", ["group_id"], unique=False)
    op.drop_index("ix_incident_service", table_name="incident")
