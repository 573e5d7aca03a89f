"""Freshdesk reply-back through the worker: ticket reply, status kept Resolved/Closed (respx mocks the API)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import FRESHDESK_ENV, fixture, mock_freshdesk, post_freshdesk
from tests.db_helpers import survey_rows as rows

ENV = FRESHDESK_ENV
EXPECTED_AUTH = "Basic " + base64.b64encode(b"fd-api-key:X").decode()

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


def schedule_due(live: Live) -> None:
    response = post_freshdesk(live, fixture("freshdesk", "rule_resolved.json"))
    assert live.outcome(response)["status"] == "scheduled", response.text


def test_reply_back_posts_the_survey_as_a_reply(replying: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router)
        assert replying.worker().run_once() == 1

    assert routes["reply"].call_count == 1
    request = routes["reply"].calls.last.request
    assert request.headers["authorization"] == EXPECTED_AUTH
    assert request.headers["content-type"] == "application/json"
    sent = json.loads(request.content)
    [row] = rows(replying)
    assert set(sent) == {"body"}
    assert f"/s/{row.token}?score=0" in sent["body"]
    assert routes["get"].call_count == 2  # before (still Resolved?) and after (status unchanged?)
    assert routes["put"].call_count == 0
    assert row.state == "sent"
    assert row.delivery_channel == "freshdesk"
    assert row.delivery_ref == "4821:11000123456"
    assert "ruta@example.com" not in caplog.text
    assert "fd-api-key" not in caplog.text


def test_reply_back_puts_the_status_back_if_the_reply_reopened_the_ticket(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router, statuses=(4, 2))
        replying.worker().run_once()

    assert routes["put"].call_count == 1
    assert json.loads(routes["put"].calls.last.request.content) == {"status": 4}
    assert rows(replying)[0].state == "sent"


def test_failing_status_repair_does_not_repost_the_survey(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router, statuses=(5, 2))
        routes["put"].mock(return_value=httpx.Response(400, json={"description": "Validation failed"}))
        replying.worker().run_once()

    assert routes["reply"].call_count == 1
    [row] = rows(replying)
    assert row.state == "sent"


def test_reply_back_skips_a_ticket_that_is_open_again(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router, statuses=(2,))
        replying.worker().run_once()

    assert routes["reply"].call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "not Resolved/Closed" in row.reason


def test_reply_back_without_status_check_posts_only_the_reply(make_live: Callable[..., Live]) -> None:
    live = make_live(
        env={**ENV, "NPS_BOT_FRESHDESK_KEEP_STATUS": "false"}, delivery=["helpdesk"], survey_delay=timedelta(0)
    )
    schedule_due(live)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_freshdesk(router)
        live.worker().run_once()

    assert routes["get"].call_count == 0
    assert routes["reply"].call_count == 1
    assert rows(live)[0].state == "sent"
