"""Sends due outbox rows, signed, one try per row per poll; the outbox's backoff is the retry policy."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from datetime import datetime
from typing import Any

import httpx

from nps_bot.followups import outbox
from nps_bot.followups.outbox import OutboundSettings
from nps_bot.plugin import http, signing
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable, Host
from nps_bot.plugin.retry import backoff

log = logging.getLogger(__name__)
EVENT_HEADER = "X-NPS-Event"
DELIVERY_HEADER = "X-NPS-Delivery"


def envelope(row_id: int, event_type: str, payload: dict[str, Any], created_at: datetime) -> bytes:
    body = {"id": row_id, "type": event_type, "created_at": created_at.isoformat(), "data": payload}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class OutboxJob:
    """A PeriodicJob: delivers due outbox rows; safe with any number of workers (leases)."""

    name = "outbox"

    def __init__(
        self,
        host: Host,
        settings: OutboundSettings | None = None,
        client: httpx.Client | None = None,
        owner: str | None = None,
    ) -> None:
        self.host = host
        self.settings = settings or OutboundSettings()
        self.client = client
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._warned = False

    def run_due(self, now: datetime) -> int:
        if not self.settings.secret:
            # Unsigned events would be worthless to receivers; rows wait for a secret.
            if self.settings.urls and not self._warned:
                log.warning(
                    "NPS_BOT_WEBHOOK_URLS is set but NPS_BOT_WEBHOOK_SECRET is not: events are queued, not sent"
                )
                self._warned = True
            return 0
        s = self.settings
        rows = outbox.claim_due(self.host.engine, self.owner, now, s.lease, s.batch_size)
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
        assert self.settings.secret
        body = envelope(row.id, row.event_type, row.payload, row.created_at)
        headers = {
            "content-type": "application/json",
            signing.HEADER: signing.sign(self.settings.secret, body, int(now.timestamp())),
            EVENT_HEADER: row.event_type,
            DELIVERY_HEADER: str(row.id),
        }
        engine = self.host.engine
        try:
            response = http.send(
                client, "POST", row.target_url, what="outbound webhook", attempts=1, content=body, headers=headers
            )
            if not response.is_success:  # a redirect is not a delivery (we never follow them)
                raise DeliveryUnavailable(f"outbound webhook: HTTP {response.status_code}")
        except Exception as exc:  # anything (even a malformed URL) is this row's failure, not the batch's
            retry_after = exc.retry_after if isinstance(exc, DeliveryRetry) else None
            if row.attempts >= self.settings.max_attempts:
                log.warning("outbox %d (%s) failed for good: %s", row.id, row.event_type, exc)
                outbox.finish(engine, row.id, self.owner, state=outbox.FAILED, last_error=str(exc)[:1000])
            else:
                log.info("outbox %d (%s) attempt %d failed: %s", row.id, row.event_type, row.attempts, exc)
                outbox.finish(
                    engine,
                    row.id,
                    self.owner,
                    next_attempt_at=now + backoff(row.attempts, retry_after),
                    last_error=str(exc)[:1000],
                )
            return
        outbox.finish(engine, row.id, self.owner, state=outbox.DELIVERED, delivered_at=now, last_error=None)
