"""The outbox of outbound events: response.created, response.updated, alert.created, loop.closed.

Events are written to the `outbox` table (one row per target URL) inside the transaction of the
change they report, so a receiver down for hours loses nothing. Sending them is the job of the
outbound-webhooks integration (`integrations/outbound`), which claims due rows through the lease
primitive, so two workers never send the same row at the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pydantic_settings import BaseSettings
from sqlalchemy import Connection, Engine, Row

from nps_bot.config import CsvList, Duration, base_config
from nps_bot.followups.alerts import survey_details
from nps_bot.store.leases import LeasedQueue, expired
from nps_bot.store.schema import outbox

RESPONSE_CREATED = "response.created"
RESPONSE_UPDATED = "response.updated"
ALERT_CREATED = "alert.created"
LOOP_CLOSED = "loop.closed"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_QUEUE = LeasedQueue(outbox)


class OutboundSettings(BaseSettings):
    model_config = base_config("NPS_BOT_WEBHOOK_")

    urls: CsvList = Field(
        default_factory=list, description="comma-separated URLs that receive signed answer and alert events"
    )
    secret: str | None = Field(
        None, description="signs the events nps-bot *sends* (`X-NPS-Signature`); not the generic secret"
    )
    max_attempts: int = Field(8, description="tries per event before it is marked failed")
    lease: Duration = Field(timedelta(minutes=2), description="how long a sender's claim on an event lasts")
    batch_size: int = Field(20, description="events one worker sends at a time")


def enqueue(
    conn: Connection, event_type: str, payload: dict[str, Any], now: datetime, urls: list[str] | None = None
) -> int:
    """Queue one event for every configured URL, in the caller's transaction; returns rows written."""
    targets = OutboundSettings().urls if urls is None else urls
    if not targets:
        return 0
    conn.execute(
        outbox.insert(),
        [
            {
                "event_type": event_type,
                "payload": payload,
                "target_url": url,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for url in targets
        ],
    )
    return len(targets)


def enqueue_answer(engine: Engine, survey_id: int, event_type: str, now: datetime, urls: list[str]) -> int:
    """Queue the survey's current answer as `event_type`; 0 when the survey is gone."""
    with engine.begin() as conn:
        details = survey_details(conn, survey_id)
        return enqueue(conn, event_type, details.as_payload(), now, urls) if details else 0


def claim_due(engine: Engine, holder: str, now: datetime, lease: timedelta, limit: int) -> list[Row[Any]]:
    """Pending events whose time has come (or whose sender died), leased to `holder`."""
    due = sa.or_(sa.and_(outbox.c.lease_until.is_(None), outbox.c.next_attempt_at <= now), expired(outbox, now))
    return _QUEUE.claim(
        engine,
        due=sa.and_(outbox.c.state == PENDING, due),
        order_by=[outbox.c.next_attempt_at, outbox.c.id],
        now=now,
        lease=lease,
        limit=limit,
        holder=holder,
        returning=[outbox.c.event_type, outbox.c.payload, outbox.c.target_url, outbox.c.attempts, outbox.c.created_at],
    )


def finish(engine: Engine, row_id: int, holder: str, **values: Any) -> bool:
    """Record a send's outcome while still holding the row's lease."""
    return _QUEUE.finish(engine, row_id, holder, where=[outbox.c.state == PENDING], **values)
