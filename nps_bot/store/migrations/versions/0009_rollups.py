"""Report rollups: per UTC day, kind and segment, the sums score reports add up

`report_rollups` is kept in the same transaction as every answer, score change and send
(nps_bot/reporting/rollups.py); this revision creates it and fills it from the existing rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_rollups",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dim", sa.String(length=72), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "promoters",
                "passives",
                "detractors",
                "answers",
                "satisfied",
                "total",
                "sum_squares",
                "sent",
                "answered",
            )
        ),
        sa.PrimaryKeyConstraint("kind", "dim", "day", "key", name=op.f("pk_report_rollups")),
    )
    # Existing answers and sends: the same recomputation as `nps-bot rollups rebuild`.
    from nps_bot.reporting.rollups import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("report_rollups")
