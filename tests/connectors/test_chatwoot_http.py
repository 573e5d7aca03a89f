"""Chatwoot end to end (real app over HTTP, database): scheduling, duplicates, hold on re-open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.connectors.helpers import CHATWOOT_ENV, fixture, post_chatwoot
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows


@pytest.fixture
def live(shared_live: Callable[..., Live]) -> Live:
    return shared_live(env=CHATWOOT_ENV)  # one app per module: tests/connectors/conftest.py


def test_resolved_conversation_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post_chatwoot(live, fixture("chatwoot", "status_changed_resolved.json"), delivery="b3c1c6e2-delivery")

    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "chatwoot"
    assert row.ticket_id == "10"
    assert row.ticket_url == "https://chat.acme.example/app/accounts/3/conversations/10"
    assert row.channel == "web_widget"
    assert row.team == "Billing"
    assert row.agent_id == "1"
    assert row.agent_name == "Ona Petraitė"
    assert row.language == "lt"
    # updated_at (when the status changed), not `timestamp` (the last message, 08:35)
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00.123456+00:00"
    assert row.due_at.isoformat() == "2026-11-20T10:55:00.123456+00:00"
    assert row.reply_context == {"conversation_id": "10", "account_id": "3"}
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {"plan": "pro", "language": "lt", "order_id": "48213", "inbox_id": "1"}
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("chatwoot", "status_changed_resolved.json")

    first = post_chatwoot(live, body)
    second = post_chatwoot(live, body)

    assert live.outcome(first)["status"] == "scheduled"
    assert second.status_code == 202
    assert live.outcome(second)["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_resolve_reschedules(live: Live) -> None:
    assert (
        live.outcome(post_chatwoot(live, fixture("chatwoot", "status_changed_resolved.json")))["status"] == "scheduled"
    )

    held = post_chatwoot(live, fixture("chatwoot", "status_changed_open.json"))
    assert live.outcome(held)["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("chatwoot", "status_changed_resolved.json")
    again["updated_at"] = 1795169340.0  # 10:09:00; no new message, so `timestamp` is unchanged
    assert live.outcome(post_chatwoot(live, again))["status"] == "rescheduled"
    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_second_resolve_of_an_older_version_without_updated_at_is_not_a_duplicate(live: Live) -> None:
    """Older payloads (the docs sample) have only `timestamp`, the last message: the arrival time tells
    a second resolve from a redelivery, so a re-opened survey is not stuck on hold."""
    resolved = fixture("chatwoot", "status_changed_resolved.json")
    del resolved["updated_at"]
    reopened = fixture("chatwoot", "status_changed_open.json")
    del reopened["updated_at"]
    post_chatwoot(live, resolved)
    assert rows(live)[0].closed_at == live.clock.now()  # no close time in the payload: now

    assert live.outcome(post_chatwoot(live, reopened))["status"] == "on_hold"
    live.clock.advance(timedelta(minutes=5))
    assert live.outcome(post_chatwoot(live, resolved))["status"] == "rescheduled"
    assert rows(live)[0].state == "scheduled"


def test_bot_inbox_pending_after_resolved_holds_the_survey(live: Live) -> None:
    post_chatwoot(live, fixture("chatwoot", "status_changed_resolved.json"))
    pending = fixture("chatwoot", "status_changed_open.json")
    pending["status"] = "pending"
    pending["changed_attributes"] = [{"status": {"previous_value": "resolved", "current_value": "pending"}}]

    assert live.outcome(post_chatwoot(live, pending))["status"] == "on_hold"


def test_deprecated_resolved_and_opened_events_are_understood(live: Live) -> None:
    resolved = fixture("chatwoot", "status_changed_resolved.json")
    resolved["event"] = "conversation_resolved"
    del resolved["changed_attributes"]
    resolved["status"] = "open"  # as in the docs' conversation_resolved sample: the event decides
    assert live.outcome(post_chatwoot(live, resolved))["status"] == "scheduled"

    opened = fixture("chatwoot", "status_changed_open.json")
    opened["event"] = "conversation_opened"
    del opened["changed_attributes"]
    assert live.outcome(post_chatwoot(live, opened))["status"] == "on_hold"
