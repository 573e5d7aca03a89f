"""Zendesk end to end (real app over HTTP, database): what the core does with what the connector parsed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.connectors.helpers import ZENDESK_ENV, fixture, post_zendesk
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ZENDESK_ENV)


def test_trigger_solved_schedules_and_stores_the_survey(live: Live) -> None:
    response = post_zendesk(live, fixture("zendesk", "trigger_solved.json"))

    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert (row.connector, row.ticket_id, row.state) == ("zendesk", "35436", "scheduled")
    assert (row.agent_id, row.agent_name, row.team, row.channel) == ("235324", "Ona Petraitė", "Billing", "web_form")
    assert row.language == "lt"
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00+00:00"
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {
        "plan": "pro",
        "organization": "UAB Pavyzdys",
        "brand": "Acme",
        "language": "lt",
    }
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert (customer.email, customer.name) == ("ruta@example.com", "Rūta Jankauskienė")


def test_status_changed_event_without_language_gets_the_default(live: Live) -> None:
    response = post_zendesk(live, fixture("zendesk", "event_status_changed_solved.json"), invocation=None)

    assert live.outcome(response)["status"] == "scheduled", response.text
    [row] = rows(live)
    assert row.language == "en"
    assert row.customer_key == "zendesk:8447388090495"
    assert row.reply_context == {"account_id": "22129848", "group_id": "8447320466430"}  # the group, named at delivery


def test_event_reopen_then_solve_again_reschedules_one_survey(live: Live) -> None:
    assert (
        live.outcome(post_zendesk(live, fixture("zendesk", "event_status_changed_solved.json")))["status"]
        == "scheduled"
    )
    assert (
        live.outcome(post_zendesk(live, fixture("zendesk", "event_status_changed_reopened.json")))["status"]
        == "on_hold"
    )
    assert rows(live)[0].state == "on_hold"

    again = fixture("zendesk", "event_status_changed_solved.json")
    again["id"] = "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
    again["time"] = "2026-11-20T09:59:30Z"
    assert live.outcome(post_zendesk(live, again))["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("zendesk", "trigger_solved.json")

    first = post_zendesk(live, body, invocation="8350205582")
    second = post_zendesk(live, body, invocation="8350205582")

    assert live.outcome(first)["status"] == "scheduled"
    assert second.status_code == 202
    assert live.outcome(second)["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_solve_reschedules(live: Live) -> None:
    assert (
        live.outcome(post_zendesk(live, fixture("zendesk", "trigger_solved.json"), invocation="1001"))["status"]
        == "scheduled"
    )

    held = post_zendesk(live, fixture("zendesk", "trigger_reopened.json"), invocation="1002")
    assert live.outcome(held)["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    solved_again = fixture("zendesk", "trigger_solved.json")
    solved_again["ticket"]["updated_at"] = "2026-11-20T10:09Z"
    again = post_zendesk(live, solved_again, invocation="1003")

    assert live.outcome(again)["status"] == "rescheduled"
    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"
