"""alerts: an index on created_at

The digest's follow-up line (`reporting.queries.follow_up_stats`) reads the alerts of a period; without
an index every alert ever raised was scanned (`SCAN alerts` on SQLite), a cost that grows with the
team's history and that the 1M bench did not see (it seeds no alerts).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 15:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_created_at")
