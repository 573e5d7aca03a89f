"""Intercom connector over HTTP: signed notifications in, admin reply out (respx)."""

from __future__ import annotations

import hashlib
import hmac
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

FIXTURES = Path(__file__).parent / "fixtures" / "intercom"
CLIENT_SECRET = "ic-client-secret-5f0c3a9e"
ENV = {
    "NPS_BOT_INTERCOM_CLIENT_SECRET": CLIENT_SECRET,
    "NPS_BOT_INTERCOM_ACCESS_TOKEN": "ic-access-token",
    "NPS_BOT_INTERCOM_ADMIN_ID": "5017690",
    "NPS_BOT_INTERCOM_TEAMS": "5017691=Billing",
}
CONVO_URL = "https://api.intercom.io/conversations/137324500000123"
REPLY_URL = f"{CONVO_URL}/reply"
PARTS_URL = f"{CONVO_URL}/parts"


pytestmark = pytest.mark.usefixtures("no_backoff")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def hub_signature(secret: str, raw: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


def post(
    live: Live, body: dict[str, Any] | bytes, *, secret: str = CLIENT_SECRET, signature: str | None = None
) -> httpx.Response:
    """POST as Intercom does: X-Hub-Signature = sha1=<hex HMAC-SHA1(client secret, raw body)>."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "intercom-parrot-service-client/1.0",
        "x-hub-signature": signature or hub_signature(secret, raw),
    }
    return live.http.post("/webhooks/intercom", content=raw, headers=headers)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


# -- inbound ---------------------------------------------------------------------------------------


def test_admin_close_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post(live, fixture("conversation_admin_closed.json"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "intercom"
    assert row.ticket_id == "137324500000123"
    assert row.ticket_url == "https://app.intercom.com/a/apps/lkqcyt9t/conversations/137324500000123"
    assert row.subject == "Invoice shows the wrong VAT"
    assert row.channel == "chat"  # source.type "conversation" = the Messenger
    assert row.team == "Billing"  # team_assignee_id 5017691, named in NPS_BOT_INTERCOM_TEAMS
    assert row.agent_id == "5017690"
    assert row.agent_name == "Ona Petraitė"  # the admin's name comes from the close part's author
    assert row.language == "lt"  # conversation data attribute "Language"
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00+00:00"
    assert row.reply_context == {
        "conversation_id": "137324500000123",
        "contact_id": "6571f1a2b3c4d5e6f7a8b9c0",
        "app_id": "lkqcyt9t",
    }
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {
        "Language": "lt",
        "Plan": "pro",
        "Copilot used": "False",
        "external_id": "cust-4821",
        "language": "lt",
    }
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"  # from source.author: the contact started the conversation
    assert customer.name == "Rūta Jankauskienė"


def test_contact_known_only_by_id_is_still_surveyed_and_throttled_by_id(live: Live) -> None:
    body = fixture("conversation_admin_closed.json")
    item = body["data"]["item"]
    item["source"]["author"] = {"type": "admin", "id": "5017690", "name": "Ona Petraitė", "email": "ona@acme.example"}
    item["source"]["delivered_as"] = "admin_initiated"

    assert post(live, body).json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.customer_key == "intercom:6571f1a2b3c4d5e6f7a8b9c0"
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.email)).scalar_one() is None


def test_api_version_1_payload_is_understood(live: Live) -> None:
    response = post(live, fixture("conversation_admin_closed_v1.json"))

    assert response.json()["status"] == "scheduled", response.text
    [row] = rows(live)
    assert row.ticket_id == "137324500000000"
    assert row.ticket_url == "https://app.intercom.com/a/apps/lkqcyt9t/conversations/137324500000000"
    assert row.agent_name == "Andy"
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.email)).scalar_one() == "bob.dylan@rei.com"


def test_wrong_signature_is_401_and_nothing_is_stored(live: Live) -> None:
    response = post(live, fixture("conversation_admin_closed.json"), secret="another-apps-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "X-Hub-Signature does not match"
    assert rows(live) == []


def test_signature_must_be_over_the_raw_body(live: Live) -> None:
    body = fixture("conversation_admin_closed.json")
    signature = hub_signature(CLIENT_SECRET, json.dumps(body).encode())

    response = post(live, json.dumps(body, indent=2).encode(), signature=signature)

    assert response.status_code == 401


def test_missing_signature_is_401(live: Live) -> None:
    raw = json.dumps(fixture("conversation_admin_closed.json")).encode()

    response = live.http.post("/webhooks/intercom", content=raw, headers={"content-type": "application/json"})

    assert response.status_code == 401
    assert "X-Hub-Signature" in response.json()["error"]


def test_missing_secret_configuration_is_401(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_INTERCOM_CLIENT_SECRET"})

    response = post(live, fixture("conversation_admin_closed.json"))

    assert response.status_code == 401
    assert "NPS_BOT_INTERCOM_CLIENT_SECRET" in response.json()["error"]
    assert rows(live) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b'"conversation.admin.closed"', "JSON object"),
        (json.dumps({"type": "notification_event", "data": {}}).encode(), "topic"),
        (json.dumps({"topic": "conversation.admin.closed", "id": "notif_1", "data": {}}).encode(), "data.item"),
        (
            json.dumps(
                {"topic": "conversation.admin.closed", "id": "notif_1", "data": {"item": {"type": "x"}}}
            ).encode(),
            "id",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_400(live: Live, raw: bytes, reason: str) -> None:
    response = post(live, raw)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(live) == []


def test_ping_and_other_topics_are_ignored(live: Live) -> None:
    ping = post(live, fixture("ping.json"))
    assert ping.status_code == 202
    assert ping.json() == {"status": "ignored", "reason": "ping"}

    replied = fixture("conversation_admin_closed.json")
    replied["topic"] = "conversation.admin.replied"
    assert post(live, replied).json()["status"] == "ignored"

    snoozed = fixture("conversation_admin_closed.json")
    snoozed["topic"] = "conversation.user.replied"  # a reply that left the conversation closed
    assert post(live, snoozed).json()["status"] == "ignored"
    assert rows(live) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("conversation_admin_closed.json")

    assert post(live, body).json()["status"] == "scheduled"
    body["delivery_attempts"] = 2  # Intercom's retry of the same notification
    second = post(live, body)

    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live) -> None:
    assert post(live, fixture("conversation_admin_closed.json")).json()["status"] == "scheduled"
    assert post(live, fixture("conversation_admin_opened.json")).json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("conversation_admin_closed.json")
    again["id"] = "notif_0d5e7f11-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    again["data"]["item"]["statistics"]["last_close_at"] = 1795169340  # 10:09:00
    assert post(live, again).json()["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_customer_reply_that_reopens_holds_the_survey(live: Live) -> None:
    post(live, fixture("conversation_admin_closed.json"))

    response = post(live, fixture("conversation_user_replied.json"))

    assert response.json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"


# -- reply-back -----------------------------------------------------------------------------------


def schedule_due(live: Live) -> None:
    response = post(live, fixture("conversation_admin_closed.json"))
    assert response.json()["status"] == "scheduled", response.text


def mock_intercom(
    router: respx.Router, *, state: str = "closed", reply_state: str = "closed"
) -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    conversation = fixture("api_conversation.json") | {"state": state, "open": state == "open"}
    reply = fixture("api_reply.json") | {"state": reply_state, "open": reply_state == "open"}
    closed = fixture("api_reply.json") | {"state": "closed", "open": False}
    return {
        "get": router.get(CONVO_URL).mock(return_value=httpx.Response(200, json=conversation)),
        "reply": router.post(REPLY_URL).mock(return_value=httpx.Response(200, json=reply)),
        "close": router.post(PARTS_URL).mock(return_value=httpx.Response(200, json=closed)),
    }


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
        router.get(eu).mock(return_value=httpx.Response(200, json=fixture("api_conversation.json")))
        reply = router.post(f"{eu}/reply").mock(return_value=httpx.Response(200, json=fixture("api_reply.json")))
        live.worker().run_once()

    assert reply.calls.last.request.headers["intercom-version"] == "2.14"
    assert rows(live)[0].state == "sent"
