"""Intercom end to end (real app over HTTP, database): scheduling, duplicates, hold on re-open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.connectors.helpers import INTERCOM_ENV, fixture, post_intercom
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows


@pytest.fixture
def live(shared_live: Callable[..., Live]) -> Live:
    return shared_live(env=INTERCOM_ENV)  # one app per module: tests/connectors/conftest.py


def test_admin_close_schedules_and_stores_the_survey(live: Live) -> None:
    response = post_intercom(live, fixture("intercom", "conversation_admin_closed.json"))

    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert (row.connector, row.ticket_id, row.state, row.language) == ("intercom", "137324500000123", "scheduled", "lt")
    assert (row.team, row.agent_id, row.agent_name) == ("Billing", "5017690", "Ona Petraitė")
    assert tags_of(live, row.id) == {"billing", "vat"}
    # NPS_BOT_INTERCOM_ATTRIBUTES=Plan,external_id: Intercom's own "Copilot used" is not a segment
    assert attributes_of(live, row.id) == {"Plan": "pro", "external_id": "cust-4821", "language": "lt"}
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert (customer.email, customer.name) == ("ruta@example.com", "Rūta Jankauskienė")


def test_contact_known_only_by_id_is_still_surveyed_and_throttled_by_id(live: Live) -> None:
    body = fixture("intercom", "conversation_admin_closed.json")
    item = body["data"]["item"]
    item["source"]["author"] = {"type": "admin", "id": "5017690", "name": "Ona Petraitė", "email": "ona@acme.example"}
    item["source"]["delivered_as"] = "admin_initiated"

    assert live.outcome(post_intercom(live, body))["status"] == "scheduled"
    [row] = rows(live)
    assert row.customer_key == "intercom:6571f1a2b3c4d5e6f7a8b9c0"
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.email)).scalar_one() is None


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("intercom", "conversation_admin_closed.json")

    assert live.outcome(post_intercom(live, body))["status"] == "scheduled"
    body["delivery_attempts"] = 2  # Intercom's retry of the same notification
    second = post_intercom(live, body)

    assert second.status_code == 202
    assert live.outcome(second)["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live) -> None:
    assert (
        live.outcome(post_intercom(live, fixture("intercom", "conversation_admin_closed.json")))["status"]
        == "scheduled"
    )
    assert (
        live.outcome(post_intercom(live, fixture("intercom", "conversation_admin_opened.json")))["status"] == "on_hold"
    )
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("intercom", "conversation_admin_closed.json")
    again["id"] = "notif_0d5e7f11-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    again["data"]["item"]["statistics"]["last_close_at"] = 1795169340  # 10:09:00
    assert live.outcome(post_intercom(live, again))["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_customer_reply_that_reopens_holds_the_survey(live: Live) -> None:
    post_intercom(live, fixture("intercom", "conversation_admin_closed.json"))

    response = post_intercom(live, fixture("intercom", "conversation_user_replied.json"))

    assert live.outcome(response)["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"
