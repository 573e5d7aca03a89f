"""Help Scout end to end (real app over HTTP, database): scheduling, agent credit, duplicates, hold on re-open,
and one survey per conversation when the webhook and the e-mail's survey links both run."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from nps_bot.cli import main
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
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert (row.connector, row.ticket_id, row.state, row.language) == ("helpscout", "number-349", "scheduled", "lt")
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

    assert live.outcome(post_helpscout(live, body))["status"] == "scheduled"
    second = post_helpscout(live, body)

    assert second.status_code == 202
    assert live.outcome(second)["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live) -> None:
    assert live.outcome(post_helpscout(live, fixture("helpscout", "convo_status_closed.json")))["status"] == "scheduled"
    assert live.outcome(post_helpscout(live, fixture("helpscout", "convo_status_active.json")))["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("helpscout", "convo_status_closed.json")
    again["closedAt"] = again["userUpdatedAt"] = "2026-11-20T10:09:00Z"
    assert live.outcome(post_helpscout(live, again))["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_customer_reply_to_a_closed_conversation_holds_the_survey(live: Live) -> None:
    post_helpscout(live, fixture("helpscout", "convo_status_closed.json"))

    response = post_helpscout(
        live, fixture("helpscout", "convo_status_active.json"), event="convo.customer.reply.created"
    )

    assert live.outcome(response)["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-then-link", "link-then-webhook"])
def test_the_webhook_and_the_emails_survey_link_make_one_survey(
    make_live: Callable[..., Live],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    webhook_first: bool,
) -> None:
    """The link can only carry {%conversation.number%}; the webhook carries the id and the number."""
    live = make_live(env=ENV, secret_key="hs-link-key")
    monkeypatch.setenv("NPS_BOT_SECRET_KEY", "hs-link-key")  # what the admin's `nps-bot template-link` reads
    monkeypatch.setenv("NPS_BOT_PUBLIC_URL", live.url)
    assert main(["template-link", "helpscout"]) == 0
    template = re.findall(r'href="([^"]+)"', capsys.readouterr().out)[9].replace("&amp;", "&")
    body = fixture("helpscout", "convo_status_closed.json")  # conversation 2391938111, number 349
    filled = (
        template.replace("{%conversation.number%}", str(body["number"]))
        .replace("{%customer.email%}", quote(body["primaryCustomer"]["email"]))
        .replace("{%customer.fullName%}", quote("Rūta Jankauskienė"))
    )

    def click() -> None:
        parts = urlsplit(filled)
        assert live.http.get(f"{parts.path}?{parts.query}").status_code == 303

    if webhook_first:
        assert live.outcome(post_helpscout(live, body))["status"] == "scheduled"
        click()
    else:
        click()
        assert live.outcome(post_helpscout(live, body))["status"] == "duplicate"

    [row] = rows(live)
    assert (row.ticket_id, row.state, row.delivery_channel) == ("number-349", "sent", "link")
    if webhook_first:  # the webhook's details stay with the survey the link opened
        assert row.reply_context["conversation_id"] == "2391938111"
        assert row.team == "Billing"
