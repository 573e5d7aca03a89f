"""Freshdesk: teams' own "done" statuses (ids 6 and up, NPS_BOT_FRESHDESK_CLOSED_STATUSES), and a close
redelivered by Freshdesk's retries (5 min, 30 min, 1 h) when the body carries no {{ticket.updated_at}}:
it must be a duplicate that never moves the survey's due time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
import respx

from integrations.freshdesk import FreshdeskConnector, FreshdeskSettings
from tests.conftest import Live
from tests.connectors.helpers import (
    FRESHDESK_ENV,
    freshdesk_headers,
    load,
    mock_freshdesk,
    parse_ignored,
    parse_one,
    post_freshdesk,
    raw_of,
    request,
)
from tests.db_helpers import survey_rows as rows

CUSTOM_DONE = {"event": None, "ticket.status": "6"}


def parse(body: object, **settings: object) -> FreshdeskConnector:
    return FreshdeskConnector(FreshdeskSettings(secret=["s"], domain="acme", **settings))  # type: ignore[arg-type]


def signed(body: object) -> object:
    raw = raw_of(body)
    return request(raw, freshdesk_headers(raw, token="s"))


def test_a_custom_done_status_closes_when_listed() -> None:
    body = load("freshdesk", "rule_resolved.json", CUSTOM_DONE)
    interaction = parse_one(parse(body, closed_statuses=["4", "5", "6"]), signed(body))
    assert interaction.event == "closed"
    assert "not Resolved/Closed" in parse_ignored(parse(body), signed(body))  # not listed: ignored as before


def test_a_custom_done_status_name_can_be_listed() -> None:
    body = load("freshdesk", "rule_resolved.json", {"event": None, "ticket.status": "Done by customer"})
    assert parse_one(parse(body, closed_statuses=["4", "5", "Done by customer"]), signed(body)).event == "closed"


@pytest.mark.usefixtures("no_backoff")
def test_reply_back_posts_into_a_ticket_in_a_custom_done_status(make_live: Callable[..., Live]) -> None:
    env = FRESHDESK_ENV | {"NPS_BOT_FRESHDESK_CLOSED_STATUSES": "4,5,6"}
    live = make_live(env=env, delivery=["helpdesk"], survey_delay=timedelta(0))
    assert (
        live.outcome(post_freshdesk(live, load("freshdesk", "rule_resolved.json", CUSTOM_DONE)))["status"]
        == "scheduled"
    )
    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router, statuses=(6, 2))  # our reply moved it to Open
        assert live.worker().run_once() == 1
    [row] = rows(live)
    assert row.state == "sent", row.reason
    assert routes["reply"].call_count == 1
    assert json.loads(routes["put"].calls.last.request.content) == {"status": 6}  # back to the custom status


def test_retries_of_a_close_without_updated_at_never_move_the_due_time(make_live: Callable[..., Live]) -> None:
    live = make_live(env=FRESHDESK_ENV)
    body = load("freshdesk", "rule_resolved.json", {"ticket.updated_at": ""})  # the placeholder rendered empty
    first = post_freshdesk(live, body)
    assert live.outcome(first)["status"] == "scheduled", first.text
    [row] = rows(live)
    due = row.due_at
    for wait in (5, 30, 60):  # Freshdesk's documented retry schedule
        live.clock.advance(timedelta(minutes=wait))
        again = post_freshdesk(live, body)
        assert (again.status_code, live.outcome(again)["status"]) == (202, "duplicate"), again.text
    [row] = rows(live)
    assert row.due_at == due
