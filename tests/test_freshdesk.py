"""Freshdesk connector over HTTP: rule webhook with a shared secret in, ticket reply out (respx)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows

FIXTURES = Path(__file__).parent / "fixtures" / "freshdesk"
SECRET = "fd-shared-secret-4f1c9a"
ENV = {
    "NPS_BOT_FRESHDESK_SECRET": SECRET,
    "NPS_BOT_FRESHDESK_DOMAIN": "acme",
    "NPS_BOT_FRESHDESK_API_KEY": "fd-api-key",
}
TICKET_URL = "https://acme.freshdesk.com/api/v2/tickets/4821"
REPLY_URL = f"{TICKET_URL}/reply"
EXPECTED_AUTH = "Basic " + base64.b64encode(b"fd-api-key:X").decode()


pytestmark = pytest.mark.usefixtures("no_backoff")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def post(
    live: Live,
    body: dict[str, Any] | bytes,
    *,
    token: str | None = SECRET,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST as the rule's "Trigger webhook" action does, with our secret in a custom header."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    all_headers = {"content-type": "application/json"}
    if token is not None:
        all_headers["x-nps-token"] = token
    all_headers.update(headers or {})
    return live.http.post(f"/webhooks/freshdesk{query}", content=raw, headers=all_headers)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


# -- inbound ---------------------------------------------------------------------------------------


def test_resolved_rule_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post(live, fixture("rule_resolved.json"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "freshdesk"
    assert row.ticket_id == "4821"
    assert row.ticket_url == "https://acme.freshdesk.com/helpdesk/tickets/4821"
    assert row.subject == "Invoice shows the wrong VAT"
    assert row.channel == "email"
    assert row.team == "Billing"
    assert row.agent_name == "Ona Petraitė"
    assert row.language == "lt"
    assert row.state == "scheduled"
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00+00:00"
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {
        "plan": "pro",
        "company": "UAB Pavyzdys",
        "ticket_type": "Question",
        "language": "lt",
    }
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"


def test_closed_status_number_without_event_word_counts_as_closed(live: Live) -> None:
    body = fixture("rule_resolved.json")
    del body["event"]
    body["ticket"]["status"] = 5
    body["ticket"]["id"] = 4821  # unquoted {{ticket.id}}
    body["ticket"]["source"] = "7"

    assert post(live, body).json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.ticket_id == "4821"
    assert row.channel == "chat"


def test_token_may_come_in_the_query_string(live: Live) -> None:
    response = post(live, fixture("rule_resolved.json"), token=None, query=f"?token={SECRET}")

    assert response.status_code == 202


def test_token_may_come_as_the_rule_authentication_api_key(live: Live) -> None:
    basic = "Basic " + base64.b64encode(f"{SECRET}:X".encode()).decode()

    response = post(live, fixture("rule_resolved.json"), token=None, headers={"authorization": basic})

    assert response.status_code == 202


def test_wrong_token_is_401_and_nothing_is_stored(live: Live) -> None:
    response = post(live, fixture("rule_resolved.json"), token="guess")

    assert response.status_code == 401
    assert response.json()["error"] == "X-NPS-Token does not match"
    assert rows(live) == []


def test_missing_token_is_401(live: Live) -> None:
    response = post(live, fixture("rule_resolved.json"), token=None)

    assert response.status_code == 401
    assert "X-NPS-Token" in response.json()["error"]
    assert rows(live) == []


def test_missing_secret_configuration_is_401(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_FRESHDESK_SECRET"})

    response = post(live, fixture("rule_resolved.json"))

    assert response.status_code == 401
    assert "NPS_BOT_FRESHDESK_SECRET" in response.json()["error"]
    assert rows(live) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b'"resolved"', "JSON object"),
        (json.dumps({"event": "resolved"}).encode(), "ticket"),
        (json.dumps({"event": "resolved", "ticket": {"id": "{{ticket.id}}"}}).encode(), "ticket.id"),
        (
            json.dumps({"event": "resolved", "ticket": {"id": "1"}, "contact": {"email": "not-an-address"}}).encode(),
            "e-mail",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_400(live: Live, raw: bytes, reason: str) -> None:
    response = post(live, raw)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(live) == []


def test_other_events_are_ignored(live: Live) -> None:
    pending = fixture("rule_resolved.json")
    del pending["event"]
    pending["ticket"]["status"] = "Pending"
    response = post(live, pending)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"

    note = fixture("rule_resolved.json")
    note["event"] = "note_added"
    assert post(live, note).json()["status"] == "ignored"
    assert rows(live) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("rule_resolved.json")

    assert post(live, body).json()["status"] == "scheduled"
    second = post(live, body)

    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_resolve_reschedules(live: Live) -> None:
    assert post(live, fixture("rule_resolved.json")).json()["status"] == "scheduled"
    assert post(live, fixture("rule_reopened.json")).json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("rule_resolved.json")
    again["ticket"]["updated_at"] = "2026-11-20T10:09:00Z"
    assert post(live, again).json()["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


# -- reply-back -----------------------------------------------------------------------------------


def schedule_due(live: Live) -> None:
    response = post(live, fixture("rule_resolved.json"))
    assert response.json()["status"] == "scheduled", response.text


def mock_freshdesk(router: respx.Router, *, statuses: tuple[int, ...] = (4, 4)) -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    tickets = []
    for status in statuses:
        ticket = fixture("api_ticket.json")
        ticket["status"] = status
        tickets.append(httpx.Response(200, json=ticket))
    return {
        "get": router.get(TICKET_URL).mock(side_effect=tickets),
        "reply": router.post(REPLY_URL).mock(return_value=httpx.Response(201, json=fixture("api_reply.json"))),
        "put": router.put(TICKET_URL).mock(return_value=httpx.Response(200, json=fixture("api_ticket.json"))),
    }


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
