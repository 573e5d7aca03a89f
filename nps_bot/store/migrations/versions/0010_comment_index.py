"""responses: a partial index of the answers with a comment, newest first per kind

The digest's and `/nps comments`' comments query read the period's answers newest first and keep the
first few with a comment. Without this index every answer of the period was read (a table lookup per
answer, ~19,000 for a week at 1,000,000 answers) to find the commented ones; with it, only commented
answers are read, from the newest, and the query stops at its LIMIT.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHERE = sa.text("comment IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_responses_commented",
            ["kind", "created_at", "id"],
            unique=False,
            sqlite_where=_WHERE,
            postgresql_where=_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_commented")
