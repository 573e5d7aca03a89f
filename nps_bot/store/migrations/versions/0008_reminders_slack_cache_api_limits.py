"""Reminders, a cached Slack user id per customer, and API limits shared by every worker

- `surveys.reminded_at`: when the one reminder for an unanswered survey went out (NULL: none yet).
- `customers.slack_checked_at`: when `slack_user_id` was last looked up by e-mail, so a lookup (a
  rate-limited Slack method) is repeated only after the cache expires; a NULL id with a recent
  check means "not in Slack".
- `api_limits`: one row per rate-limited outbound method ("slack:chat.postMessage"):
  `paused_until` after a 429 (honoured by every worker in every process) and `next_slot_at`, the
  pacing slot shared across processes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nps_bot.store.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slack_checked_at", UtcDateTime(), nullable=True))
    op.create_table(
        "api_limits",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("paused_until", UtcDateTime(), nullable=True),
        sa.Column("next_slot_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_api_limits")),
    )


def downgrade() -> None:
    op.drop_table("api_limits")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("slack_checked_at")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
