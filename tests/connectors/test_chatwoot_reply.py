"""Chatwoot reply-back through the worker: an outgoing public message (respx mocks the API)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import CHATWOOT_ENV, fixture, mock_chatwoot, post_chatwoot
from tests.db_helpers import survey_rows as rows

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=CHATWOOT_ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


def schedule_due(live: Live) -> int:
    response = post_chatwoot(live, fixture("chatwoot", "status_changed_resolved.json"))
    assert live.outcome(response)["status"] == "scheduled", response.text
    return int(live.outcome(response)["survey_id"])


def test_reply_back_posts_an_outgoing_public_message(replying: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    survey_id = schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        route = mock_chatwoot(router)
        assert replying.worker().run_once() == 1

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["api_access_token"] == "cw-api-token"
    sent = json.loads(request.content)
    assert sent["message_type"] == "outgoing"
    assert sent["private"] is False
    [row] = rows(replying)
    assert f"/s/{row.token}?score=10" in sent["content"]
    assert row.id == survey_id
    assert row.state == "sent"
    assert row.delivery_channel == "chatwoot"
    assert row.delivery_ref == "10:5551"
    assert "ruta@example.com" not in caplog.text.lower()
    assert "cw-api-token" not in caplog.text


def test_reply_back_without_account_id_is_unavailable(replying: Live) -> None:
    body = fixture("chatwoot", "status_changed_resolved.json")
    body["messages"] = []
    assert replying.outcome(post_chatwoot(replying, body))["status"] == "scheduled"

    with respx.mock(assert_all_called=False) as router:
        route = mock_chatwoot(router)
        replying.worker().run_once()

    assert route.call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "NPS_BOT_CHATWOOT_ACCOUNT_ID" in row.reason
