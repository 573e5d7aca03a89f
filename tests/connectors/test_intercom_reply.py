"""Intercom reply-back through the worker: admin comment, conversation closed again (respx mocks the API)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import INTERCOM_ENV, fixture, mock_intercom, post_intercom
from tests.db_helpers import survey_rows as rows

ENV = INTERCOM_ENV

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


def schedule_due(live: Live) -> None:
    response = post_intercom(live, fixture("intercom", "conversation_admin_closed.json"))
    assert live.outcome(response)["status"] == "scheduled", response.text


def test_reply_back_posts_an_admin_comment(replying: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_intercom(router)
        assert replying.worker().run_once() == 1

    request = routes["reply"].calls.last.request
    assert request.headers["authorization"] == "Bearer ic-access-token"
    assert request.headers["intercom-version"] == "2.11"
    assert request.headers["accept"] == "application/json"
    sent = json.loads(request.content)
    [row] = rows(replying)
    assert sent["message_type"] == "comment"
    assert sent["type"] == "admin"
    assert sent["admin_id"] == "5017690"
    assert f"/s/{row.token}?score=0" in sent["body"]
    assert routes["get"].call_count == 1
    assert routes["close"].call_count == 0  # the reply left it closed: nothing else to do
    assert row.state == "sent"
    assert row.delivery_channel == "intercom"
    assert row.delivery_ref == "137324500000123:6073838801"
    assert "ruta@example.com" not in caplog.text
    assert "ic-access-token" not in caplog.text


def test_reply_that_reopened_the_conversation_is_followed_by_a_close(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_intercom(router, reply_state="open")
        replying.worker().run_once()

    assert routes["close"].call_count == 1
    close = json.loads(routes["close"].calls.last.request.content)
    assert close == {"message_type": "close", "type": "admin", "admin_id": "5017690"}
    assert rows(replying)[0].state == "sent"


def test_failing_close_does_not_repost_the_survey(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_intercom(router, reply_state="open")
        routes["close"].mock(return_value=httpx.Response(403, json={"type": "error.list"}))
        replying.worker().run_once()

    assert routes["reply"].call_count == 1
    assert rows(replying)[0].state == "sent"


def test_reply_back_skips_a_conversation_that_is_open_again(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_intercom(router, state="open")
        replying.worker().run_once()

    assert routes["reply"].call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "open again" in row.reason


def test_eu_workspace_and_pinned_api_version(make_live: Callable[..., Live]) -> None:
    live = make_live(
        env={**ENV, "NPS_BOT_INTERCOM_API_BASE": "https://api.eu.intercom.io", "NPS_BOT_INTERCOM_API_VERSION": "2.14"},
        delivery=["helpdesk"],
        survey_delay=timedelta(0),
    )
    schedule_due(live)

    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        eu = "https://api.eu.intercom.io/conversations/137324500000123"
        router.get(eu).mock(return_value=httpx.Response(200, json=fixture("intercom", "api_conversation.json")))
        reply = router.post(f"{eu}/reply").mock(
            return_value=httpx.Response(200, json=fixture("intercom", "api_reply.json"))
        )
        live.worker().run_once()

    assert reply.calls.last.request.headers["intercom-version"] == "2.14"
    assert rows(live)[0].state == "sent"
