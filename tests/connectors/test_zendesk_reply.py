"""Zendesk reply-back through the worker: public comment in, ticket kept Solved (respx mocks the API)."""

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
from tests.connectors.helpers import ZENDESK_ENV, ZENDESK_SECRET, fixture, mock_zendesk, post_zendesk
from tests.db_helpers import survey_rows as rows

EXPECTED_AUTH = "Basic " + base64.b64encode(b"nps-bot@acme.example/token:zd-api-token").decode()

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ZENDESK_ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


def schedule_due(live: Live) -> int:
    response = post_zendesk(live, fixture("zendesk", "trigger_solved.json"))
    assert live.outcome(response)["status"] == "scheduled", response.text
    return int(live.outcome(response)["survey_id"])


def test_reply_back_posts_a_public_comment_and_keeps_the_ticket_solved(
    replying: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    survey_id = schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        get, put = mock_zendesk(router)
        assert replying.worker().run_once() == 1

    assert get.call_count == 1
    assert put.call_count == 1
    request = put.calls.last.request
    assert request.headers["authorization"] == EXPECTED_AUTH
    assert get.calls.last.request.headers["authorization"] == EXPECTED_AUTH
    sent = json.loads(request.content)
    assert sent["ticket"]["status"] == "solved"
    assert sent["ticket"]["comment"]["public"] is True
    html = sent["ticket"]["comment"]["html_body"]
    [row] = rows(replying)
    assert f"/s/{row.token}?score=10" in html
    assert "Rūta" in html
    assert row.id == survey_id
    assert row.state == "sent"
    assert row.delivery_channel == "zendesk"
    assert row.delivery_ref == "35436:81726355"
    assert "ruta@example.com" not in caplog.text
    assert "zd-api-token" not in caplog.text


@pytest.mark.parametrize("status", [401, 404])
def test_reply_back_vendor_refusal_makes_the_survey_undeliverable(replying: Live, status: int) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        get, put = mock_zendesk(router)
        get.mock(return_value=httpx.Response(status, json={"error": "RecordNotFound"}))
        replying.worker().run_once()

    assert put.call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert f"HTTP {status}" in row.reason


def test_reply_back_comment_refused_makes_the_survey_undeliverable(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        _, put = mock_zendesk(router)
        put.mock(return_value=httpx.Response(403, json={"error": "Forbidden"}))
        replying.worker().run_once()

    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "zendesk comment: HTTP 403" in row.reason


@pytest.mark.parametrize(("status", "words"), [("open", "open again"), ("closed", "is closed")])
def test_reply_back_skips_tickets_that_are_no_longer_solved(replying: Live, status: str, words: str) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        _, put = mock_zendesk(router, status=status)
        replying.worker().run_once()

    assert put.call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert words in row.reason


def test_reply_back_long_retry_after_is_left_to_the_worker_schedule(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        _, put = mock_zendesk(router)
        put.mock(return_value=httpx.Response(429, headers={"retry-after": "120"}))
        replying.worker().run_once()

    assert put.call_count == 1  # no inline wait for two minutes
    [row] = rows(replying)
    assert row.state == "scheduled"
    assert row.due_at == replying.clock.now() + timedelta(seconds=120)


def test_reply_back_5xx_is_retried(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        get, _ = mock_zendesk(router)
        get.side_effect = [httpx.Response(503), httpx.Response(200, json=fixture("zendesk", "api_ticket_show.json"))]
        replying.worker().run_once()

    assert get.call_count == 2
    assert rows(replying)[0].state == "sent"


def test_reply_back_timeout_is_retried_and_never_lost(replying: Live) -> None:
    schedule_due(replying)

    with respx.mock(assert_all_called=False) as router:
        _, put = mock_zendesk(router)
        put.side_effect = httpx.ReadTimeout("timed out")
        replying.worker().run_once()

    assert put.call_count == 3
    [row] = rows(replying)
    assert row.state == "scheduled"
    assert "timed out" in row.last_error

    replying.clock.advance(timedelta(minutes=5))
    with respx.mock(assert_all_called=False) as router:
        _, put = mock_zendesk(router)
        put.side_effect = [
            httpx.ConnectTimeout("slow"),
            httpx.Response(200, json=fixture("zendesk", "api_ticket_update.json")),
        ]
        replying.worker().run_once()

    assert rows(replying)[0].state == "sent"


def test_reply_back_without_credentials_is_unavailable(make_live: Callable[..., Live]) -> None:
    live = make_live(
        env={"NPS_BOT_ZENDESK_SIGNING_SECRET": ZENDESK_SECRET}, delivery=["helpdesk"], survey_delay=timedelta(0)
    )
    schedule_due(live)

    live.worker().run_once()

    [row] = rows(live)
    assert row.state == "undeliverable"
    assert "zendesk reply-back is off" in row.reason
