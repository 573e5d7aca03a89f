"""webhook_intake: verified webhooks stored before they are scheduled

A webhook is answered once its verified, parsed interactions are stored here; workers schedule them
(policy, unique keys, the survey row) and delete the row in the same transaction. Scheduling inside
the request kept ingest at a fifth of what the server can take (bench/RESULTS.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nps_bot.store.schema import Id, UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_intake",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("failed_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_intake"),
    )


def downgrade() -> None:
    op.drop_table("webhook_intake")
