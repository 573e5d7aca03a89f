"""Chat user ids found by e-mail, kept on the customer (`slack_user_id`, `slack_checked_at`): a chat
integration looks a customer up once per cache period instead of once per survey."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from nps_bot.clock import Clock
from nps_bot.models import Customer
from nps_bot.plugin.ports import ChatIdLookup
from nps_bot.store.schema import customers


def _key(email: str) -> str | None:
    try:
        return Customer(email=email).key("")  # the indexed unique key customers are stored under
    except ValueError:
        return None


class ChatUserIdCache:
    """`ChatUserIds` on the customers table (`AppContext.chat_user_ids`)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def cached(self, email: str) -> ChatIdLookup | None:
        key = _key(email)
        if key is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(customers.c.slack_user_id, customers.c.slack_checked_at).where(customers.c.key == key)
            ).first()
        if row is None or row.slack_checked_at is None:
            return None
        return ChatIdLookup(row.slack_user_id, row.slack_checked_at)

    def remember(self, email: str, user_id: str | None) -> None:
        key = _key(email)
        if key is None:
            return
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                customers.update()
                .where(customers.c.key == key)
                .values(slack_user_id=user_id, slack_checked_at=now, updated_at=now)
            )
