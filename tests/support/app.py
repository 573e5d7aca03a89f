"""The real app as tests drive it: its secrets, a handle on a running instance, a generic webhook body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.delivery.worker import Worker
from nps_bot.models import Customer, Interaction, ScheduleOutcome
from nps_bot.plugin import signing
from nps_bot.surveys.intake import WebhookIntake

GENERIC_SECRET = "test-generic-secret"
SLACK_SIGNING_SECRET = "test-signing-secret"


@dataclass
class Live:
    """One app started by the `make_live` fixture (tests/conftest.py) and served on 127.0.0.1."""

    ctx: AppContext
    url: str
    http: httpx.Client
    clock: ManualClock

    def worker(self) -> Worker:
        return Worker(self.ctx, owner="test-worker")

    def outcome(self, response: httpx.Response) -> dict[str, Any]:
        """What scheduling the webhook gave, in one body: the client drained the intake right after the
        202 (see `draining_client`). A refused or ignored webhook gives its own body."""
        outcomes: list[ScheduleOutcome] | None = response.extensions.get("outcomes")
        if not outcomes:
            body: dict[str, Any] = response.json()
            return body
        if len(outcomes) == 1:
            return outcome_json(outcomes[0])
        return {"status": "accepted", "results": [outcome_json(o) for o in outcomes]}

    def signed_generic(
        self, body: dict[str, Any] | bytes, *, secret: str = GENERIC_SECRET, at: datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A generic webhook's bytes and headers, signed at the app's time (for clients of a test's own)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        ts = int((at or self.clock.now()).timestamp())
        return raw, {signing.HEADER: signing.sign(secret, raw, ts), "content-type": "application/json"}

    def post_generic(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str = GENERIC_SECRET,
        at: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        raw, signed = self.signed_generic(body, secret=secret, at=at)
        return self.http.post("/webhooks/generic", content=raw, headers={**signed, **(headers or {})})


def outcome_json(outcome: ScheduleOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {"status": outcome.status}
    if outcome.survey_id is not None:
        data["survey_id"] = outcome.survey_id
    if outcome.reason:
        data["reason"] = outcome.reason
    if outcome.due_at:
        data["due_at"] = outcome.due_at.isoformat()
    return data


def draining_client(ctx: AppContext, base_url: str) -> httpx.Client:
    """An HTTP client that, after each webhook the app queued, schedules the queue as a worker would
    (the outcomes ride on `response.extensions["outcomes"]`), so a test reads surveys right after
    posting. Tests of the queue itself use a plain client."""

    def drain_after_webhook(response: httpx.Response) -> None:
        if response.request.method != "POST" or not response.request.url.path.startswith("/webhooks/"):
            return
        response.read()
        if response.status_code == 202 and response.json().get("status") == "queued":
            response.extensions["outcomes"] = [s.outcome for s in WebhookIntake(ctx.surveys).drain_for()]

    return httpx.Client(base_url=base_url, timeout=10, event_hooks={"response": [drain_after_webhook]})


def services(db_url: str, start: datetime, **settings: Any) -> AppContext:
    """The core services alone (no integrations, no embedded worker) on `db_url`, their clock at `start`."""
    settings.setdefault("survey_delay", timedelta(0))
    full = Settings(database_url=db_url, embedded_worker=False, **settings)
    return AppContext.build(full, clock=ManualClock(start), load_integrations=False)


def closing(n: int) -> Interaction:
    """A minimal closed ticket, as a connector would parse it (its own event, ticket and customer)."""
    return Interaction(
        connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", customer=Customer(email=f"c{n}@example.com")
    )


def generic_event(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A generic ticket-closed body shaped like the README's schema."""
    body: dict[str, Any] = {
        "event": "ticket.closed",
        "id": f"evt_{n}",
        "ticket": {
            "id": f"T-{1000 + n}",
            "subject": "Invoice shows the wrong VAT",
            "url": f"https://help.example.com/tickets/{1000 + n}",
            "channel": "chat",
            "team": "Billing",
            "tags": ["billing", "vat"],
            "closed_at": "2026-11-20T09:55:00Z",
        },
        "customer": {
            "email": f"customer{n}@example.com",
            "name": "Rūta Jankauskienė",
            "slack_user_id": f"U{n:08d}",
            "language": "lt",
            "attributes": {"plan": "pro", "region": "EU"},
        },
        "agent": {"id": "42", "name": "Ona", "email": "ona@acme.example"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body
