"""LiveAgent reply-back across its two API generations: the message is an API v1 call (v1 key), the status
is put back through API v3 (v3 key, NPS_BOT_LIVEAGENT_API_KEY_V3). v3 cannot set Closed (`L`), so a ticket
that was Closed is put back to Resolved (`R`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import (
    LIVEAGENT_ENV,
    LIVEAGENT_MESSAGES_URL,
    LIVEAGENT_TICKET_URL,
    load,
    post_liveagent,
)
from tests.db_helpers import survey_rows as rows

pytestmark = pytest.mark.usefixtures("no_backoff")
V3_KEY = "la-api-key-v3"


def replying(make_live: Callable[..., Live], **env: str) -> Live:
    return make_live(env=LIVEAGENT_ENV | env, delivery=["helpdesk"], survey_delay=timedelta(0))


def deliver(live: Live, status: str) -> tuple[respx.Route, respx.Route]:
    response = post_liveagent(live, load("liveagent", "rule_resolved.json", {"status": status}))
    assert live.outcome(response)["status"] == "scheduled", response.text
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        message = router.post(LIVEAGENT_MESSAGES_URL).respond(200, json={"response": {"status": "OK"}})
        put = router.put(LIVEAGENT_TICKET_URL).respond(200, json={"id": "a9f3c2d1", "status": "R"})
        assert live.worker().run_once() == 1
    return message, put


def test_each_call_uses_the_key_of_its_api_generation(make_live: Callable[..., Live]) -> None:
    live = replying(make_live, NPS_BOT_LIVEAGENT_API_KEY_V3=V3_KEY)
    message, put = deliver(live, "R")
    sent = message.calls.last.request
    assert sent.headers["apikey"] == "la-api-key"  # v1: POST /api/conversations/{id}/messages
    assert parse_qs(sent.content.decode())["apikey"] == ["la-api-key"]
    assert put.calls.last.request.headers["apikey"] == V3_KEY  # v3: PUT /api/v3/tickets/{id}
    assert json.loads(put.calls.last.request.content) == {"status": "R"}
    assert rows(live)[0].state == "sent"


def test_a_closed_ticket_comes_back_as_resolved_because_v3_cannot_set_closed(make_live: Callable[..., Live]) -> None:
    live = replying(make_live, NPS_BOT_LIVEAGENT_API_KEY_V3=V3_KEY)
    _, put = deliver(live, "L")
    assert json.loads(put.calls.last.request.content) == {"status": "R"}
    assert rows(live)[0].state == "sent"


def test_without_a_v3_key_the_one_key_is_used_for_both(make_live: Callable[..., Live]) -> None:
    _, put = deliver(replying(make_live), "R")
    assert put.calls.last.request.headers["apikey"] == "la-api-key"
