"""Help Scout end to end (real app over HTTP, database): scheduling, agent credit, duplicates, hold on re-open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.connectors.helpers import HELPSCOUT_ENV, fixture, post_helpscout
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows

ENV = HELPSCOUT_ENV


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


def test_closed_conversation_schedules_and_stores_the_survey(live: Live) -> None:
    response = post_helpscout(live, fixture("helpscout", "convo_status_closed.json"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert (row.connector, row.ticket_id, row.state, row.language) == ("helpscout", "2391938111", "scheduled", "lt")
    assert (row.team, row.agent_name) == ("Billing", "Ona Petraitė")
    assert row.reply_context == {"conversation_id": "2391938111", "customer_id": "238604", "mailbox_id": "85"}
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {"Plan": "Pro", "Language": "Lithuanian", "language": "lt"}
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert (customer.email, customer.name) == ("ruta@example.com", "Rūta Jankauskienė")


def test_agent_credit_can_go_to_the_closer_or_the_last_replier(make_live: Callable[..., Live], tmp_path: Path) -> None:
    body = fixture("helpscout", "convo_status_closed.json")
    body["closedByUser"] = {
        "id": 412,
        "type": "user",
        "first": "Jonas",
        "last": "Kazlauskas",
        "email": "j@acme.example",
    }
    closer = make_live(env=ENV, agent_credit="closer")
    post_helpscout(closer, body)
    assert rows(closer)[0].agent_name == "Jonas Kazlauskas"

    replier = make_live(env=ENV, agent_credit="last_replier", database_url=f"sqlite:///{tmp_path / 'other.db'}")
    post_helpscout(replier, body)
    assert rows(replier)[0].agent_name == "Ona Petraitė"  # the newest published "message" thread


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("helpscout", "convo_status_closed.json")

    assert post_helpscout(live, body).json()["status"] == "scheduled"
    second = post_helpscout(live, body)

    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live) -> None:
    assert post_helpscout(live, fixture("helpscout", "convo_status_closed.json")).json()["status"] == "scheduled"
    assert post_helpscout(live, fixture("helpscout", "convo_status_active.json")).json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("helpscout", "convo_status_closed.json")
    again["closedAt"] = again["userUpdatedAt"] = "2026-11-20T10:09:00Z"
    assert post_helpscout(live, again).json()["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_customer_reply_to_a_closed_conversation_holds_the_survey(live: Live) -> None:
    post_helpscout(live, fixture("helpscout", "convo_status_closed.json"))

    response = post_helpscout(
        live, fixture("helpscout", "convo_status_active.json"), event="convo.customer.reply.created"
    )

    assert response.json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"
