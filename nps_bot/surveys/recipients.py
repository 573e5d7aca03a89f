"""Who a survey was sent to, so a chat integration lets only that person answer it.

An answer belongs to its recipient: a chat message with score buttons can be forwarded, shared or
seen by others in a group conversation, and their clicks must not change the customer's answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from nps_bot.store.schema import customers, surveys


def chat_user_id(engine: Engine, token: str) -> str | None:
    """The Slack user id stored with the survey's customer (None when unknown, e.g. found by e-mail)."""
    if "\x00" in token:
        return None
    with engine.connect() as conn:
        return conn.execute(
            sa.select(customers.c.slack_user_id)
            .select_from(surveys.join(customers, customers.c.id == surveys.c.customer_id))
            .where(surveys.c.token == token)
        ).scalar()
