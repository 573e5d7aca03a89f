"""Chatwoot connector over HTTP: signed (or ?token=) conversation_status_changed in, outgoing message out."""

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

from integrations.chatwoot.connector import compute_signature
from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows

FIXTURES = Path(__file__).parent / "fixtures" / "chatwoot"
SECRET = "cw-webhook-secret-7d2e"
TOKEN = "cw-shared-token-91ab"
ENV = {
    "NPS_BOT_CHATWOOT_SECRET": SECRET,
    "NPS_BOT_CHATWOOT_BASE_URL": "https://chat.acme.example",
    "NPS_BOT_CHATWOOT_API_TOKEN": "cw-api-token",
}
MESSAGES_URL = "https://chat.acme.example/api/v1/accounts/3/conversations/10/messages"


pytestmark = pytest.mark.usefixtures("no_backoff")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def post(
    live: Live,
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = SECRET,
    timestamp: str | None = None,
    signature: str | None = None,
    delivery: str | None = None,
    query: str = "",
) -> httpx.Response:
    """POST as Chatwoot does; signed like a Chatwoot webhook that has a secret."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    if secret is not None or signature is not None:
        ts = timestamp or str(int(live.clock.now().timestamp()))
        headers["x-chatwoot-timestamp"] = ts
        headers["x-chatwoot-signature"] = signature or compute_signature(secret or "", ts, raw)
    if delivery:
        headers["x-chatwoot-delivery"] = delivery
    return live.http.post(f"/webhooks/chatwoot{query}", content=raw, headers=headers)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


# -- inbound ---------------------------------------------------------------------------------------


def test_resolved_conversation_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post(live, fixture("status_changed_resolved.json"), delivery="b3c1c6e2-delivery")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "chatwoot"
    assert row.ticket_id == "10"
    assert row.ticket_url == "https://chat.acme.example/app/accounts/3/conversations/10"
    assert row.channel == "web_widget"
    assert row.team == "Billing"
    assert row.agent_id == "1"
    assert row.agent_name == "Ona Petraitė"
    assert row.language == "lt"
    # updated_at (when the status changed), not `timestamp` (the last message, 08:35)
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00.123456+00:00"
    assert row.due_at.isoformat() == "2026-11-20T10:55:00.123456+00:00"
    assert row.reply_context == {"conversation_id": "10", "account_id": "3"}
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {"plan": "pro", "language": "lt", "order_id": "48213", "inbox_id": "1"}
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"


def test_unsigned_install_with_shared_token_is_accepted(make_live: Callable[..., Live]) -> None:
    live = make_live(env={"NPS_BOT_CHATWOOT_TOKEN": TOKEN})

    ok = post(live, fixture("status_changed_resolved.json"), secret=None, query=f"?token={TOKEN}")
    assert ok.status_code == 202, ok.text
    assert ok.json()["status"] == "scheduled"

    wrong = post(live, fixture("status_changed_resolved.json"), secret=None, query="?token=guess")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "token does not match"

    missing = post(live, fixture("status_changed_resolved.json"), secret=None)
    assert missing.status_code == 401
    assert "?token=" in missing.json()["error"]


def test_bad_signature_is_401_and_nothing_is_stored(live: Live) -> None:
    response = post(live, fixture("status_changed_resolved.json"), secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "signature does not match"
    assert rows(live) == []


def test_tampered_body_is_401(live: Live) -> None:
    raw = json.dumps(fixture("status_changed_resolved.json")).encode()
    ts = str(int(live.clock.now().timestamp()))
    signature = compute_signature(SECRET, ts, raw)

    response = post(live, raw.replace(b'"id": 10', b'"id": 11'), timestamp=ts, signature=signature)

    assert response.status_code == 401
    assert rows(live) == []


def test_stale_timestamp_is_401(live: Live) -> None:
    old = str(int((live.clock.now() - timedelta(minutes=6)).timestamp()))

    response = post(live, fixture("status_changed_resolved.json"), timestamp=old)

    assert response.status_code == 401
    assert "window" in response.json()["error"]


def test_unsigned_request_when_a_secret_is_configured_is_401(live: Live) -> None:
    response = post(live, fixture("status_changed_resolved.json"), secret=None)

    assert response.status_code == 401
    assert "X-Chatwoot-Signature" in response.json()["error"]
    assert rows(live) == []


def test_missing_secret_configuration_is_401(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_CHATWOOT_SECRET"})

    response = post(live, fixture("status_changed_resolved.json"))

    assert response.status_code == 401
    assert "NPS_BOT_CHATWOOT_SECRET" in response.json()["error"]
    assert rows(live) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"status": "resolved", "id": 3}).encode(), "event"),
        (json.dumps({"event": "conversation_status_changed", "status": "resolved"}).encode(), "id"),
    ],
)
def test_malformed_or_wrong_shape_is_400(live: Live, raw: bytes, reason: str) -> None:
    response = post(live, raw)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(live) == []


def test_other_events_are_ignored(live: Live) -> None:
    created = post(live, fixture("conversation_created.json"))
    assert created.status_code == 202
    assert created.json()["status"] == "ignored"
    assert "conversation_created" in created.json()["reason"]

    pending = fixture("status_changed_resolved.json")
    pending["status"] = "pending"
    pending["changed_attributes"] = [{"status": {"previous_value": "open", "current_value": "pending"}}]
    assert post(live, pending).json()["status"] == "ignored"

    handoff = fixture("status_changed_open.json")
    handoff["changed_attributes"] = [{"status": {"previous_value": "pending", "current_value": "open"}}]
    assert post(live, handoff).json()["status"] == "ignored"
    assert rows(live) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("status_changed_resolved.json")

    first = post(live, body)
    second = post(live, body)

    assert first.json()["status"] == "scheduled"
    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_resolve_reschedules(live: Live) -> None:
    assert post(live, fixture("status_changed_resolved.json")).json()["status"] == "scheduled"

    held = post(live, fixture("status_changed_open.json"))
    assert held.json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("status_changed_resolved.json")
    again["updated_at"] = 1795169340.0  # 10:09:00; no new message, so `timestamp` is unchanged
    assert post(live, again).json()["status"] == "rescheduled"
    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


def test_second_resolve_of_an_older_version_without_updated_at_is_not_a_duplicate(live: Live) -> None:
    """Older payloads (the docs sample) have only `timestamp`, the last message: the arrival time tells
    a second resolve from a redelivery, so a re-opened survey is not stuck on hold."""
    resolved = fixture("status_changed_resolved.json")
    del resolved["updated_at"]
    reopened = fixture("status_changed_open.json")
    del reopened["updated_at"]
    post(live, resolved)
    assert rows(live)[0].closed_at == live.clock.now()  # no close time in the payload: now

    assert post(live, reopened).json()["status"] == "on_hold"
    live.clock.advance(timedelta(minutes=5))
    assert post(live, resolved).json()["status"] == "rescheduled"
    assert rows(live)[0].state == "scheduled"


def test_bot_inbox_pending_after_resolved_holds_the_survey(live: Live) -> None:
    post(live, fixture("status_changed_resolved.json"))
    pending = fixture("status_changed_open.json")
    pending["status"] = "pending"
    pending["changed_attributes"] = [{"status": {"previous_value": "resolved", "current_value": "pending"}}]

    assert post(live, pending).json()["status"] == "on_hold"


def test_deprecated_resolved_and_opened_events_are_understood(live: Live) -> None:
    resolved = fixture("status_changed_resolved.json")
    resolved["event"] = "conversation_resolved"
    del resolved["changed_attributes"]
    resolved["status"] = "open"  # as in the docs' conversation_resolved sample: the event decides
    assert post(live, resolved).json()["status"] == "scheduled"

    opened = fixture("status_changed_open.json")
    opened["event"] = "conversation_opened"
    del opened["changed_attributes"]
    assert post(live, opened).json()["status"] == "on_hold"


def test_account_id_may_come_from_the_webhook_url(make_live: Callable[..., Live]) -> None:
    live = make_live(env={"NPS_BOT_CHATWOOT_TOKEN": TOKEN, "NPS_BOT_CHATWOOT_BASE_URL": "https://chat.acme.example"})
    body = fixture("status_changed_resolved.json")
    for message in body["messages"]:
        del message["account_id"]

    response = post(live, body, secret=None, query=f"?token={TOKEN}&account_id=7")

    assert response.json()["status"] == "scheduled", response.text
    [row] = rows(live)
    assert row.reply_context == {"conversation_id": "10", "account_id": "7"}
    assert row.ticket_url == "https://chat.acme.example/app/accounts/7/conversations/10"


# -- reply-back -----------------------------------------------------------------------------------------


def schedule_due(live: Live) -> int:
    response = post(live, fixture("status_changed_resolved.json"))
    assert response.json()["status"] == "scheduled", response.text
    return int(response.json()["survey_id"])


def mock_chatwoot(router: respx.Router) -> respx.Route:
    router.route(host="127.0.0.1").pass_through()
    return router.post(MESSAGES_URL).mock(return_value=httpx.Response(200, json=fixture("api_message_created.json")))


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
    body = fixture("status_changed_resolved.json")
    body["messages"] = []
    assert post(replying, body).json()["status"] == "scheduled"

    with respx.mock(assert_all_called=False) as router:
        route = mock_chatwoot(router)
        replying.worker().run_once()

    assert route.call_count == 0
    [row] = rows(replying)
    assert row.state == "undeliverable"
    assert "NPS_BOT_CHATWOOT_ACCOUNT_ID" in row.reason


def test_signature_matches_the_documented_formula() -> None:
    raw = b'{"event":"conversation_status_changed"}'
    expected = "sha256=" + hmac.new(b"s", b"1700000000." + raw, hashlib.sha256).hexdigest()

    assert compute_signature("s", "1700000000", raw) == expected
