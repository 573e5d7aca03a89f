"""LiveAgent reply-back through the worker: message into the ticket, status kept (respx mocks the API)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from tests.conftest import Live
from tests.connectors.helpers import FIXTURES as _FIXTURES
from tests.connectors.helpers import LIVEAGENT_BASE as BASE
from tests.connectors.helpers import LIVEAGENT_ENV as ENV
from tests.connectors.helpers import LIVEAGENT_MESSAGES_URL as MESSAGES
from tests.connectors.helpers import LIVEAGENT_TICKET_URL as TICKET
from tests.connectors.helpers import fixture, post_liveagent
from tests.db_helpers import only_survey as survey

FIXTURES = _FIXTURES / "liveagent"


pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def sending(shared_live: Callable[..., Live]) -> Live:
    """One app for the module (tests/connectors/conftest.py): tables emptied and clock reset between tests."""
    return shared_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


def schedule(live: Live, **overrides: Any) -> None:
    assert (
        live.outcome(post_liveagent(live, fixture("liveagent", "rule_resolved.json") | overrides))["status"]
        == "scheduled"
    )


def test_reply_back_posts_the_survey_and_keeps_the_ticket_resolved(sending: Live, router: respx.MockRouter) -> None:
    message = router.post(MESSAGES).respond(200, json=fixture("liveagent", "message_response.json"))
    status = router.put(TICKET).respond(200, json={"id": "a9f3c2d1", "status": "R"})
    schedule(sending)
    assert sending.worker().run_once() == 1
    row = survey(sending)
    assert row.state == "sent", row.reason
    assert (row.delivery_channel, row.delivery_ref) == ("liveagent", "a9f3c2d1:m5d2e8f1")

    request = message.calls.last.request
    assert request.headers["apikey"] == "la-api-key"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode())
    assert form["useridentifier"] == ["surveys@acme.example"]
    assert form["apikey"] == ["la-api-key"]
    text = form["message"][0]
    assert "Rūta" in text, "greets the customer by first name"
    assert f"{sending.url}/s/{row.token}?score=10" in text
    assert f"{sending.url}/s/{row.token}?score=0" in text

    put = status.calls.last.request
    assert put.headers["apikey"] == "la-api-key"
    assert json.loads(put.content) == {"status": "R"}


def test_closed_ticket_is_put_back_to_resolved(sending: Live, router: respx.MockRouter) -> None:
    # API v3 cannot set Closed (L): the ticket comes back as Resolved, the nearest state v3 can set.
    router.post(MESSAGES).respond(200, json={"response": {"status": "OK"}})
    status = router.put(TICKET).respond(200, json={})
    schedule(sending, status="L")
    sending.worker().run_once()
    assert survey(sending).state == "sent"
    assert json.loads(status.calls.last.request.content) == {"status": "R"}


def test_status_restore_failure_does_not_resend(sending: Live, router: respx.MockRouter) -> None:
    message = router.post(MESSAGES).respond(200, json={})
    router.put(TICKET).respond(403, json={"message": "ApiKey not found"})
    schedule(sending)
    sending.worker().run_once()
    row = survey(sending)
    assert (row.state, row.delivery_ref) == ("sent", "a9f3c2d1")
    assert message.call_count == 1


def test_conversation_id_falls_back_to_ticket_id(sending: Live, router: respx.MockRouter) -> None:
    route = router.post(f"{BASE}/api/conversations/b7e6d5c4/messages").respond(200, json={})
    router.put(f"{BASE}/api/v3/tickets/b7e6d5c4").respond(200, json={})
    schedule(sending, ticket_id="b7e6d5c4", conversation_id="")
    sending.worker().run_once()
    assert route.call_count == 1
    assert survey(sending).state == "sent"


@pytest.mark.parametrize("status", [401, 404])
def test_vendor_refusal_makes_the_survey_undeliverable(sending: Live, router: respx.MockRouter, status: int) -> None:
    route = router.post(MESSAGES).respond(status, json={"response": {"status": "ERROR", "errormessage": "nope"}})
    schedule(sending)
    sending.worker().run_once()
    row = survey(sending)
    assert row.state == "undeliverable"
    assert row.reason.startswith(f"helpdesk: liveagent message: HTTP {status}")
    assert route.call_count == 1, "4xx is not retried"


def test_error_envelope_with_200_is_a_refusal(sending: Live, router: respx.MockRouter) -> None:
    router.post(MESSAGES).respond(200, json={"response": {"status": "ERROR", "errormessage": "Conversation not found"}})
    schedule(sending)
    sending.worker().run_once()
    row = survey(sending)
    assert (row.state, row.reason) == ("undeliverable", "helpdesk: liveagent message: Conversation not found")


def test_rate_limit_is_retried(sending: Live, router: respx.MockRouter) -> None:
    route = router.post(MESSAGES)
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={})]
    router.put(TICKET).respond(200, json={})
    schedule(sending)
    sending.worker().run_once()
    assert route.call_count == 2
    assert survey(sending).state == "sent"


def test_persistent_rate_limit_goes_back_to_scheduled(sending: Live, router: respx.MockRouter) -> None:
    route = router.post(MESSAGES).respond(429, headers={"Retry-After": "0"})
    schedule(sending)
    sending.worker().run_once()
    row = survey(sending)
    assert row.state == "scheduled"
    assert "HTTP 429" in row.last_error
    assert row.due_at > sending.clock.now(), "backed off, not lost"
    assert route.call_count == 3


def test_server_errors_are_retried(sending: Live, router: respx.MockRouter, no_backoff: None) -> None:
    route = router.post(MESSAGES)
    route.side_effect = [httpx.Response(502), httpx.Response(503), httpx.Response(200, json={})]
    router.put(TICKET).respond(200, json={})
    schedule(sending)
    sending.worker().run_once()
    assert route.call_count == 3
    assert survey(sending).state == "sent"


def test_timeouts_are_retried(sending: Live, router: respx.MockRouter, no_backoff: None) -> None:
    route = router.post(MESSAGES)
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json={})]
    router.put(TICKET).respond(200, json={})
    schedule(sending)
    sending.worker().run_once()
    assert route.call_count == 2
    assert survey(sending).state == "sent"


def test_timeouts_every_time_reschedule(sending: Live, router: respx.MockRouter, no_backoff: None) -> None:
    router.post(MESSAGES).mock(side_effect=httpx.ConnectTimeout("down"))
    schedule(sending)
    sending.worker().run_once()
    row = survey(sending)
    assert row.state == "scheduled"
    assert "timed out" in row.last_error


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"NPS_BOT_LIVEAGENT_REPLY": "false"}, "reply-back is off"),
        ({"NPS_BOT_LIVEAGENT_USERIDENTIFIER": ""}, "NPS_BOT_LIVEAGENT_USERIDENTIFIER"),
        ({"NPS_BOT_LIVEAGENT_API_KEY": ""}, "NPS_BOT_LIVEAGENT_API_KEY"),
    ],
)
def test_reply_back_needs_its_settings(
    make_live: Callable[..., Live], router: respx.MockRouter, env: dict[str, str], reason: str
) -> None:
    route = router.post(MESSAGES).respond(200, json={})
    live = make_live(env=ENV | env, delivery=["helpdesk"], survey_delay=timedelta(0))
    schedule(live)
    live.worker().run_once()
    row = survey(live)
    assert row.state == "undeliverable"
    assert reason in row.reason
    assert route.call_count == 0
