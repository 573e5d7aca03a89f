"""surveys.post_attempted_at: a delivery whose outcome is not known

Stamped right before a channel is handed the survey and cleared when the channel answers (sent, or
definitely not sent). A survey claimed again with it still set may have been delivered by the attempt
before (its worker died, or the answer was lost), and only then does the channel look for that
message (for Slack: conversations.open + conversations.history) before sending again.

Surveys that were being delivered or retried when this runs (state `sending`, or `scheduled` after an
attempt) get it from `updated_at`: the code before this revision looked for the message on every such
retry, so they keep that safety.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nps_bot.store.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("post_attempted_at", UtcDateTime(), nullable=True))
    op.execute(
        "UPDATE surveys SET post_attempted_at = updated_at"
        " WHERE state = 'sending' OR (state = 'scheduled' AND attempts > 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("post_attempted_at")
