"""Per vendor, a webhook with every optional field missing (no e-mail, no agent, no team, no time): a
sensible survey (dated by the arrival, no agent, no team, no customer key) or a clear 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Live
from tests.connectors import helpers as h
from tests.db_helpers import survey_rows as rows

ENV = h.ZENDESK_ENV | h.FRESHDESK_ENV | h.HELPSCOUT_ENV | h.INTERCOM_ENV | h.CHATWOOT_ENV | h.LIVEAGENT_ENV
ENV = ENV | h.NICEREPLY_ENV

MINIMAL: dict[str, tuple[Callable[..., Any], Any]] = {
    "zendesk-trigger": (h.post_zendesk, {"event": "solved", "ticket": {"id": "901"}}),
    "zendesk-event": (
        h.post_zendesk,
        {
            "type": "zen:event-type:ticket.status_changed",
            "id": "01JD0000000000000000000901",
            "detail": {"id": "902"},
            "event": {"current": "SOLVED", "previous": "OPEN"},
        },
    ),
    "freshdesk": (h.post_freshdesk, {"event": "resolved", "ticket": {"id": "903"}}),
    "helpscout": (h.post_helpscout, {"id": 904, "status": "closed"}),
    "intercom": (
        h.post_intercom,
        {
            "type": "notification_event",
            "topic": "conversation.admin.closed",
            "id": "notif_minimal",
            "data": {"item": {"type": "conversation", "id": "905"}},
        },
    ),
    "chatwoot": (h.post_chatwoot, {"event": "conversation_status_changed", "id": 906, "status": "resolved"}),
    "liveagent": (h.post_liveagent, {"ticket_id": "907", "status": "R"}),
    "generic": (h.post_generic, {"event": "ticket.closed", "id": "evt_min", "ticket": {"id": "909"}, "customer": {}}),
}


@pytest.mark.parametrize("vendor", MINIMAL, ids=MINIMAL.keys())
def test_a_bare_close_gives_a_sensible_survey(vendor: str, make_live: Callable[..., Live]) -> None:
    live = make_live(env=ENV)
    post, body = MINIMAL[vendor]
    response = post(live, body)
    assert (response.status_code, live.outcome(response)["status"]) == (202, "scheduled"), response.text
    [row] = rows(live)
    assert row.state == "scheduled"
    assert (row.agent_id, row.agent_name, row.team, row.customer_key) == (None, None, None, None)
    assert row.closed_at.replace(tzinfo=None) == live.clock.now().replace(tzinfo=None)  # no time: the arrival


def test_nicereply_rating_without_a_time_is_a_clear_400(make_live: Callable[..., Live]) -> None:
    live = make_live(env=ENV)
    response = h.post_nicereply(live, {"id": 908, "score": 9, "survey": {"metric": "NPS"}})
    assert response.status_code == 400
    assert "created_at: missing" in response.text
    assert rows(live) == []


def test_nicereply_rating_without_customer_agent_or_team_is_stored(make_live: Callable[..., Live]) -> None:
    live = make_live(env=ENV)
    body = {"id": 910, "score": 9, "survey": {"metric": "NPS"}, "created_at": "2026-11-20T09:55:00Z"}
    response = h.post_nicereply(live, body)
    assert response.status_code == 202, response.text
    [row] = rows(live)
    assert (row.state, row.agent_name, row.team, row.customer_key) == ("answered", None, None, None)
