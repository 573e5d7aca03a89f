"""subscriptions.survey_kind: the survey kind a rule watches, in its own column

Alert rules for CSAT and CES first kept their kind in `dimension` (a digest field alerts did not use);
this moves it to a column of its own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_subs = sa.table(
    "subscriptions",
    sa.column("kind", sa.String),
    sa.column("dimension", sa.String),
    sa.column("survey_kind", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_kind", sa.String(length=8), nullable=False, server_default="nps"))
    for kind in ("csat", "ces"):
        op.get_bind().execute(
            _subs.update()
            .where(_subs.c.kind == "alert", _subs.c.dimension == kind)
            .values(survey_kind=kind, dimension=None)
        )


def downgrade() -> None:
    for kind in ("csat", "ces"):
        op.get_bind().execute(
            _subs.update().where(_subs.c.kind == "alert", _subs.c.survey_kind == kind).values(dimension=kind)
        )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("survey_kind")
