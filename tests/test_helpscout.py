"""Help Scout connector over HTTP: signed convo.status webhooks in, conversation reply out (respx)."""

from __future__ import annotations

import base64
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

FIXTURES = Path(__file__).parent / "fixtures" / "helpscout"
SECRET = "hs-webhook-secret-0123456789abcdef"  # Help Scout allows at most 40 characters
ENV = {
    "NPS_BOT_HELPSCOUT_SECRET": SECRET,
    "NPS_BOT_HELPSCOUT_APP_ID": "hs-app-id",
    "NPS_BOT_HELPSCOUT_APP_SECRET": "hs-app-secret",
    "NPS_BOT_HELPSCOUT_MAILBOXES": "85=Billing,86=Sales",
}
API = "https://api.helpscout.net/v2"
TOKEN_URL = f"{API}/oauth2/token"
CONVO_URL = f"{API}/conversations/2391938111"
REPLY_URL = f"{CONVO_URL}/reply"
ACCESS_TOKEN = "2C9KDIKjc4ck0cokpIR2tR5cIrgw2pzA"


pytestmark = pytest.mark.usefixtures("no_backoff")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def helpscout_signature(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha1).digest()).decode()


def post(
    live: Live,
    body: dict[str, Any] | bytes,
    *,
    event: str | None = "convo.status",
    secret: str = SECRET,
    signature: str | None = None,
) -> httpx.Response:
    """POST as Help Scout does: the event name in X-HelpScout-Event, base64 HMAC-SHA1 of the raw body."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "content-type": "application/json",
        "x-helpscout-signature": signature or helpscout_signature(secret, raw),
    }
    if event:
        headers["x-helpscout-event"] = event
    return live.http.post("/webhooks/helpscout", content=raw, headers=headers)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


# -- inbound ---------------------------------------------------------------------------------------


def test_closed_conversation_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post(live, fixture("convo_status_closed.json"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "helpscout"
    assert row.ticket_id == "2391938111"
    assert row.ticket_url == "https://secure.helpscout.net/conversation/2391938111/349?folderId=1234"
    assert row.subject == "Invoice shows the wrong VAT"
    assert row.channel == "email"
    assert row.team == "Billing"  # mailbox 85, named in NPS_BOT_HELPSCOUT_MAILBOXES
    assert row.agent_id == "256"
    assert row.agent_name == "Ona Petraitė"
    assert row.language == "lt"  # the "Language" custom field says "Lithuanian"
    assert row.state == "scheduled"
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00+00:00"
    assert row.reply_context == {"conversation_id": "2391938111", "customer_id": "238604", "mailbox_id": "85"}
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {"Plan": "Pro", "Language": "Lithuanian", "language": "lt"}
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"
    assert customer.name == "Rūta Jankauskienė"


def test_agent_credit_can_go_to_the_closer_or_the_last_replier(make_live: Callable[..., Live], tmp_path: Path) -> None:
    body = fixture("convo_status_closed.json")
    body["closedByUser"] = {
        "id": 412,
        "type": "user",
        "first": "Jonas",
        "last": "Kazlauskas",
        "email": "j@acme.example",
    }
    closer = make_live(env=ENV, agent_credit="closer")
    post(closer, body)
    assert rows(closer)[0].agent_name == "Jonas Kazlauskas"

    replier = make_live(env=ENV, agent_credit="last_replier", database_url=f"sqlite:///{tmp_path / 'other.db'}")
    post(replier, body)
    assert rows(replier)[0].agent_name == "Ona Petraitė"  # the newest published "message" thread


def test_deprecated_v1_payload_is_understood(live: Live) -> None:
    response = post(live, fixture("convo_status_closed_v1.json"))

    assert response.json()["status"] == "scheduled", response.text
    [row] = rows(live)
    assert row.ticket_id == "291938"
    assert row.ticket_url == "https://secure.helpscout.net/conversation/291938/349/"
    assert row.agent_name == "Jack Sprout"
    assert row.team == "My Mailbox"
    assert tags_of(live, row.id) == {"tag1", "tag2"}
    assert attributes_of(live, row.id) == {"Team": "Development", "Customer Disposition": "Happy"}
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.email)).scalar_one() == "vbear@mywork.com"


def test_a_rotated_secret_still_verifies(make_live: Callable[..., Live]) -> None:
    live = make_live(env={**ENV, "NPS_BOT_HELPSCOUT_SECRET": f"new-secret,{SECRET}"})

    assert post(live, fixture("convo_status_closed.json")).status_code == 202


def test_wrong_signature_is_401_and_nothing_is_stored(live: Live) -> None:
    response = post(live, fixture("convo_status_closed.json"), secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "X-HelpScout-Signature does not match"
    assert rows(live) == []


def test_signature_must_cover_the_exact_raw_body(live: Live) -> None:
    raw = json.dumps(fixture("convo_status_closed.json")).encode()
    signature = helpscout_signature(SECRET, raw)

    response = post(live, raw.replace(b'"closed"', b'"active"', 1), signature=signature)

    assert response.status_code == 401
    assert rows(live) == []


def test_missing_signature_is_401(live: Live) -> None:
    raw = json.dumps(fixture("convo_status_closed.json")).encode()
    response = live.http.post("/webhooks/helpscout", content=raw, headers={"x-helpscout-event": "convo.status"})

    assert response.status_code == 401
    assert "X-HelpScout-Signature" in response.json()["error"]


def test_missing_secret_configuration_is_401(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_HELPSCOUT_SECRET"})

    response = post(live, fixture("convo_status_closed.json"))

    assert response.status_code == 401
    assert "NPS_BOT_HELPSCOUT_SECRET" in response.json()["error"]
    assert rows(live) == []


@pytest.mark.parametrize(
    ("raw", "event", "reason"),
    [
        (b"{not json", "convo.status", "malformed JSON"),
        (b"[1, 2]", "convo.status", "JSON object"),
        (json.dumps({"status": "closed", "number": 3}).encode(), "convo.status", "id"),
        (json.dumps({"id": 1, "status": "closed"}).encode(), None, "X-HelpScout-Event"),
        (
            json.dumps({"id": 1, "status": "closed", "primaryCustomer": {"id": 2, "email": "nope"}}).encode(),
            "convo.status",
            "e-mail",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_400(live: Live, raw: bytes, event: str | None, reason: str) -> None:
    response = post(live, raw, event=event)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(live) == []


@pytest.mark.parametrize(
    ("event", "status"),
    [("helpscout.test", "closed"), ("convo.assigned", "closed"), ("convo.tags", "active"), ("convo.status", "spam")],
)
def test_other_events_are_ignored(live: Live, event: str, status: str) -> None:
    body = fixture("convo_status_closed.json")
    body["status"] = status

    response = post(live, body, event=event)

    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert rows(live) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("convo_status_closed.json")

    assert post(live, body).json()["status"] == "scheduled"
    second = post(live, body)

    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live) -> None:
    assert post(live, fixture("convo_status_closed.json")).json()["status"] == "scheduled"
    assert post(live, fixture("convo_status_active.json")).json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("convo_status_closed.json")
    again["closedAt"] = again["userUpdatedAt"] = "2026-11-20T10:09:00Z"
    assert post(live, again).json()["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_customer_reply_to_a_closed_conversation_holds_the_survey(live: Live) -> None:
    post(live, fixture("convo_status_closed.json"))

    response = post(live, fixture("convo_status_active.json"), event="convo.customer.reply.created")

    assert response.json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"


# -- reply-back -----------------------------------------------------------------------------------


def schedule_due(live: Live, body: dict[str, Any] | None = None) -> None:
    response = post(live, body or fixture("convo_status_closed.json"))
    assert response.json()["status"] == "scheduled", response.text


def mock_helpscout(router: respx.Router, *, status: str = "closed") -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    conversation = fixture("api_conversation.json")
    conversation["status"] = status
    return {
        "token": router.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=fixture("api_token.json"))),
        "get": router.get(CONVO_URL).mock(return_value=httpx.Response(200, json=conversation)),
        "reply": router.post(REPLY_URL).mock(return_value=httpx.Response(201, headers={"Resource-ID": "88171890"})),
    }


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
    other = fixture("convo_status_closed.json")
    other["id"] = 2391938222
    other["primaryCustomer"]["email"] = other["createdBy"]["email"] = "other@example.com"
    other["primaryCustomer"]["id"] = 238605
    schedule_due(replying, other)

    with respx.mock(assert_all_called=False) as router:
        routes = mock_helpscout(router)
        other_convo = fixture("api_conversation.json") | {"id": 2391938222}
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
            httpx.Response(200, json=fixture("api_token.json")),
        ]
        routes["get"].side_effect = [
            httpx.Response(401, json={"error": "invalid_token"}),
            httpx.Response(200, json=fixture("api_conversation.json")),
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
