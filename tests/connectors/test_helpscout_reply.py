"""Help Scout reply-back through the worker: OAuth token, reply that keeps the conversation closed (respx)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import HELPSCOUT_API as API
from tests.connectors.helpers import HELPSCOUT_ENV, fixture, mock_helpscout, post_helpscout
from tests.db_helpers import survey_rows as rows

ACCESS_TOKEN = "2C9KDIKjc4ck0cokpIR2tR5cIrgw2pzA"

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=HELPSCOUT_ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


def schedule_due(live: Live, body: dict[str, Any] | None = None) -> None:
    response = post_helpscout(live, body or fixture("helpscout", "convo_status_closed.json"))
    assert live.outcome(response)["status"] == "scheduled", response.text


def test_reply_back_posts_the_survey_and_keeps_the_conversation_closed(
    replying: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router)
        assert replying.worker().run_once() == 1

    token_form = dict(httpx.QueryParams(routes["token"].calls.last.request.content.decode()))
    assert token_form == {
        "grant_type": "client_credentials",
        "client_id": "hs-app-id",
        "client_secret": "hs-app-secret",
    }
    assert routes["get"].calls.last.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    request = routes["reply"].calls.last.request
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    sent = json.loads(request.content)
    [row] = rows(replying)
    assert set(sent) == {"customer", "text", "status"}
    assert sent["customer"] == {"id": 238604}
    assert sent["status"] == "closed"  # without it, Help Scout's reply re-activates the conversation
    assert f"/s/{row.token}?score=10" in sent["text"]
    assert row.state == "sent"
    assert row.delivery_channel == "helpscout"
    assert row.delivery_ref == "2391938111:88171890"
    assert "ruta@example.com" not in caplog.text
    assert ACCESS_TOKEN not in caplog.text
    assert "hs-app-secret" not in caplog.text


def test_access_token_is_cached_between_replies(replying: Live) -> None:
    schedule_due(replying)
    other = fixture("helpscout", "convo_status_closed.json")
    other["id"], other["number"] = 2391938222, 350
    other["primaryCustomer"]["email"] = other["createdBy"]["email"] = "other@example.com"
    other["primaryCustomer"]["id"] = 238605
    schedule_due(replying, other)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router)
        other_convo = fixture("helpscout", "api_conversation.json") | {"id": 2391938222}
        router.get(f"{API}/conversations/2391938222").mock(return_value=httpx.Response(200, json=other_convo))
        other_reply = router.post(f"{API}/conversations/2391938222/reply").mock(return_value=httpx.Response(201))
        replying.worker().run_once()

    assert routes["token"].call_count == 1
    assert routes["reply"].call_count == 1
    assert json.loads(other_reply.calls.last.request.content)["customer"] == {"id": 238605}
    assert [r.state for r in rows(replying)] == ["sent", "sent"]


def test_a_refused_token_is_renewed_once(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router)
        routes["token"].side_effect = [
            httpx.Response(200, json={"token_type": "bearer", "access_token": "revoked", "expires_in": 172800}),
            httpx.Response(200, json=fixture("helpscout", "api_token.json")),
        ]
        routes["get"].side_effect = [
            httpx.Response(401, json={"error": "invalid_token"}),
            httpx.Response(200, json=fixture("helpscout", "api_conversation.json")),
        ]
        replying.worker().run_once()

    assert routes["token"].call_count == 2
    assert routes["reply"].calls.last.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert rows(replying)[0].state == "sent"


def test_reply_back_skips_a_conversation_that_is_active_again(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router, status="active")
        replying.worker().run_once()

    assert routes["reply"].call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "active again" in row.reason


def test_bad_app_credentials_make_the_survey_undeliverable(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router)
        routes["token"].mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
        replying.worker().run_once()

    assert routes["reply"].call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "helpscout token: HTTP 401" in row.reason
