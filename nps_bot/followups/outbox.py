"""Outbound signed webhooks: response.created, response.updated, alert.created, loop.closed.

Events are written to the `outbox` table (one row per target URL) inside the transaction of the
change they report, then delivered by the worker's OutboxJob with leases and backoff, signed
exactly like our inbound generic webhook (nps_bot.plugin.signing), so a receiver down for hours loses
nothing and two workers never send the same row at the same time.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import Field
from pydantic_settings import BaseSettings
from sqlalchemy import Connection

from nps_bot.config import CsvList, Duration, base_config
from nps_bot.followups.alerts import survey_details
from nps_bot.models import Answer
from nps_bot.plugin import http, signing
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable, Host
from nps_bot.store.schema import outbox

log = logging.getLogger(__name__)

RESPONSE_CREATED = "response.created"
RESPONSE_UPDATED = "response.updated"
ALERT_CREATED = "alert.created"
LOOP_CLOSED = "loop.closed"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
EVENT_HEADER = "X-NPS-Event"
DELIVERY_HEADER = "X-NPS-Delivery"


class OutboundSettings(BaseSettings):
    model_config = base_config("NPS_BOT_WEBHOOK_")

    urls: CsvList = Field(default_factory=list)
    secret: str | None = None
    max_attempts: int = 8
    lease: Duration = timedelta(minutes=2)
    batch_size: int = 20


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


class OutboundListener:
    """An AnswerListener: every score or comment becomes response.created / response.updated."""

    name = "outbound-webhooks"

    def __init__(self, ctx: Host, settings: OutboundSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or OutboundSettings()

    def on_answer(self, answer: Answer) -> None:
        if not self.settings.urls:
            return
        # A comment comes back with previous_score == score: it updates the response.
        event = RESPONSE_CREATED if answer.previous_score is None else RESPONSE_UPDATED
        with self.ctx.engine.begin() as conn:
            details = survey_details(conn, answer.survey.id)
            if details is None:
                return
            enqueue(conn, event, details.as_payload(), self.ctx.clock.now(), self.settings.urls)


def _body(row_id: int, event_type: str, payload: dict[str, Any], created_at: datetime) -> bytes:
    envelope = {"id": row_id, "type": event_type, "created_at": created_at.isoformat(), "data": payload}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


class OutboxJob:
    """A PeriodicJob: delivers due outbox rows; safe with any number of workers (leases)."""

    name = "outbox"

    def __init__(
        self,
        ctx: Host,
        settings: OutboundSettings | None = None,
        client: httpx.Client | None = None,
        owner: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings or OutboundSettings()
        self.client = client
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._warned = False

    def _claim(self, now: datetime) -> list[Any]:
        due = sa.or_(
            sa.and_(outbox.c.lease_until.is_(None), outbox.c.next_attempt_at <= now),
            outbox.c.lease_until < now,  # a worker died mid-delivery
        )
        pick = (
            sa.select(outbox.c.id)
            .where(outbox.c.state == PENDING, due)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(self.settings.batch_size)
        )
        if self.ctx.engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            outbox.update()
            .where(outbox.c.id.in_(pick.scalar_subquery()))
            .values(lease_owner=self.owner, lease_until=now + self.settings.lease, attempts=outbox.c.attempts + 1)
            .returning(
                outbox.c.id,
                outbox.c.event_type,
                outbox.c.payload,
                outbox.c.target_url,
                outbox.c.attempts,
                outbox.c.created_at,
            )
        )
        with self.ctx.engine.begin() as conn:
            return sorted(conn.execute(stmt).all(), key=lambda r: r.id)

    def _finish(self, row_id: int, **values: Any) -> None:
        with self.ctx.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row_id, outbox.c.lease_owner == self.owner, outbox.c.state == PENDING)
                .values(lease_owner=None, lease_until=None, **values)
            )

    def run_due(self, now: datetime) -> int:
        if not self.settings.secret:
            # Unsigned events would be worthless to receivers; rows wait for a secret.
            if self.settings.urls and not self._warned:
                log.warning(
                    "NPS_BOT_WEBHOOK_URLS is set but NPS_BOT_WEBHOOK_SECRET is not: events are queued, not sent"
                )
                self._warned = True
            return 0
        rows = self._claim(now)
        if not rows:
            return 0
        client = self.client or http.new_client()
        try:
            for row in rows:
                self._deliver(client, row, now)
        finally:
            if self.client is None:
                client.close()
        return len(rows)

    def _deliver(self, client: httpx.Client, row: Any, now: datetime) -> None:
        from nps_bot.delivery.worker import backoff  # the worker imports the app, which may import us

        assert self.settings.secret
        body = _body(row.id, row.event_type, row.payload, row.created_at)
        headers = {
            "content-type": "application/json",
            signing.HEADER: signing.sign(self.settings.secret, body, int(now.timestamp())),
            EVENT_HEADER: row.event_type,
            DELIVERY_HEADER: str(row.id),
        }
        try:
            # One try per poll: the outbox's own backoff is the retry policy, no sleeping in the worker.
            response = http.send(
                client, "POST", row.target_url, what="outbound webhook", attempts=1, content=body, headers=headers
            )
            if not response.is_success:  # a redirect is not a delivery (we never follow them)
                raise DeliveryUnavailable(f"outbound webhook: HTTP {response.status_code}")
        except Exception as exc:  # anything (even a malformed URL) is this row's failure, not the batch's
            retry_after = exc.retry_after if isinstance(exc, DeliveryRetry) else None
            if row.attempts >= self.settings.max_attempts:
                log.warning("outbox %d (%s) failed for good: %s", row.id, row.event_type, exc)
                self._finish(row.id, state=FAILED, last_error=str(exc)[:1000])
            else:
                log.info("outbox %d (%s) attempt %d failed: %s", row.id, row.event_type, row.attempts, exc)
                self._finish(
                    row.id, next_attempt_at=now + backoff(row.attempts, retry_after), last_error=str(exc)[:1000]
                )
            return
        self._finish(row.id, state=DELIVERED, delivered_at=now, last_error=None)
