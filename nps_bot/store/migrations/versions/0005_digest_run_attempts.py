"""digest_runs: attempts and gave_up columns instead of a count inside the error text

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:40:00
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MARKER = re.compile(r"^\[attempt (\d+)(, gave up)?\] ")
_runs = sa.table(
    "digest_runs",
    sa.column("error", sa.Text),
    sa.column("attempts", sa.Integer),
    sa.column("gave_up", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("gave_up", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Move "[attempt N(, gave up)] reason" markers out of the error text into the new columns.
    conn = op.get_bind()
    marked = conn.execute(sa.select(_runs.c.error).where(_runs.c.error.like("[attempt %")).distinct()).all()
    for row in marked:
        match = _MARKER.match(row.error)
        if not match:
            continue
        conn.execute(
            _runs.update()
            .where(_runs.c.error == row.error)  # the same marked text converts the same way
            .values(attempts=int(match.group(1)), gave_up=bool(match.group(2)), error=row.error[match.end() :])
        )


def downgrade() -> None:
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.drop_column("gave_up")
        batch_op.drop_column("attempts")
