"""Zendesk connector over HTTP: signed trigger and event webhooks in, public comment out (respx)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa

from integrations.zendesk.signature import SignatureError, compute, verify
from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
ENV = {
    "NPS_BOT_ZENDESK_SIGNING_SECRET": SECRET,
    "NPS_BOT_ZENDESK_SUBDOMAIN": "acme",
    "NPS_BOT_ZENDESK_EMAIL": "nps-bot@acme.example",
    "NPS_BOT_ZENDESK_API_TOKEN": "zd-api-token",
}
TICKET_URL = "https://acme.zendesk.com/api/v2/tickets/35436.json"
EXPECTED_AUTH = "Basic " + base64.b64encode(b"nps-bot@acme.example/token:zd-api-token").decode()


pytestmark = pytest.mark.usefixtures("no_backoff")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def zendesk_signature(secret: str, timestamp: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()).decode()


def post(
    live: Live,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    at: datetime | None = None,
    invocation: str | None = "8350205582",
    signature: str | None = None,
) -> httpx.Response:
    """POST as Zendesk does: ISO 8601 timestamp header, base64 HMAC-SHA256 over timestamp + raw body."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    timestamp = (at or live.clock.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "content-type": "application/json",
        "user-agent": "Zendesk Webhook",
        "x-zendesk-account-id": "22129848",
        "x-zendesk-webhook-id": "01F1KRFQ6BG29CNWFR60NK5FNY",
        "x-zendesk-webhook-signature": signature or zendesk_signature(secret, timestamp, raw),
        "x-zendesk-webhook-signature-timestamp": timestamp,
    }
    if invocation:
        headers["x-zendesk-webhook-invocation-id"] = invocation
    return live.http.post("/webhooks/zendesk", content=raw, headers=headers)


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def replying(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


# -- inbound: trigger body --------------------------------------------------------------------------


def test_trigger_solved_schedules_survey_with_parsed_fields(live: Live) -> None:
    response = post(live, fixture("trigger_solved.json"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.connector == "zendesk"
    assert row.ticket_id == "35436"
    assert row.ticket_url == "https://acme.zendesk.com/agent/tickets/35436"
    assert row.subject == "Invoice shows the wrong VAT"
    assert row.channel == "web_form"
    assert row.team == "Billing"
    assert row.agent_id == "235324"
    assert row.agent_name == "Ona Petraitė"
    assert row.language == "lt"
    assert row.state == "scheduled"
    assert row.closed_at.isoformat() == "2026-11-20T09:55:00+00:00"
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {
        "plan": "pro",
        "organization": "UAB Pavyzdys",
        "brand": "Acme",
        "language": "lt",
    }
    with live.ctx.engine.connect() as conn:
        customer = conn.execute(sa.select(customers)).one()
    assert customer.email == "ruta@example.com"
    assert customer.name == "Rūta Jankauskienė"


def test_language_name_is_used_when_the_locale_placeholder_is_empty(live: Live) -> None:
    body = fixture("trigger_solved.json")
    body["requester"]["locale"] = ""
    body["requester"]["language"] = "Ukrainian"

    assert post(live, body).status_code == 202
    assert rows(live)[0].language == "uk"


def test_unrendered_placeholders_count_as_missing(live: Live) -> None:
    body = fixture("trigger_solved.json")
    body["attributes"] = {"plan": "{{ticket.ticket_field_360000000001}}"}
    body["assignee"] = {"id": "", "name": "", "email": ""}
    body["ticket"]["tags"] = ["billing", "", "{{ticket.tags}}"]

    assert post(live, body).status_code == 202
    [row] = rows(live)
    assert row.agent_name == "Ona Petraitė"  # falls back to the closer (current_user)
    assert "plan" not in attributes_of(live, row.id)
    assert tags_of(live, row.id) == {"billing"}


# -- inbound: event subscription ----------------------------------------------------------------------


def test_status_changed_event_to_solved_schedules_survey(live: Live) -> None:
    response = post(live, fixture("event_status_changed_solved.json"), invocation=None)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    [row] = rows(live)
    assert row.ticket_id == "5158"
    assert row.ticket_url == "https://acme.zendesk.com/agent/tickets/5158"
    assert row.subject == "Cannot login to mobile app"
    assert row.channel == "web_form"
    assert row.team == "8447320466430"  # the event carries the group id only
    assert row.agent_id == "8447388090494"
    assert row.language == "en"
    assert row.customer_key == "zendesk:8447388090495"
    assert row.reply_context == {"account_id": "22129848"}
    assert tags_of(live, row.id) == {"login", "mobile"}
    assert attributes_of(live, row.id) == {
        "organization_id": "8447346622462",
        "brand_id": "8447346621310",
        "form_id": "8447325827582",
    }


def test_event_reopen_then_solve_again_reschedules_one_survey(live: Live) -> None:
    assert post(live, fixture("event_status_changed_solved.json")).json()["status"] == "scheduled"
    assert post(live, fixture("event_status_changed_reopened.json")).json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    again = fixture("event_status_changed_solved.json")
    again["id"] = "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
    again["time"] = "2026-11-20T09:59:30Z"
    assert post(live, again).json()["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"


# -- inbound: rejections and ignores ------------------------------------------------------------------


def test_bad_signature_is_401_and_nothing_is_stored(live: Live) -> None:
    response = post(live, fixture("trigger_solved.json"), secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "signature does not match"
    assert rows(live) == []


def test_tampered_body_is_401(live: Live) -> None:
    raw = json.dumps(fixture("trigger_solved.json")).encode()
    timestamp = live.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = zendesk_signature(SECRET, timestamp, raw)

    response = post(live, raw.replace(b"35436", b"35437"), signature=signature)

    assert response.status_code == 401
    assert rows(live) == []


def test_stale_timestamp_is_401(live: Live) -> None:
    response = post(live, fixture("trigger_solved.json"), at=live.clock.now() - timedelta(minutes=6))

    assert response.status_code == 401
    assert "window" in response.json()["error"]
    assert rows(live) == []


def test_missing_signature_headers_are_401(live: Live) -> None:
    response = live.http.post("/webhooks/zendesk", json=fixture("trigger_solved.json"))

    assert response.status_code == 401
    assert "X-Zendesk-Webhook-Signature" in response.json()["error"]


def test_missing_secret_configuration_is_401(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_ZENDESK_SIGNING_SECRET"})

    response = post(live, fixture("trigger_solved.json"))

    assert response.status_code == 401
    assert "NPS_BOT_ZENDESK_SIGNING_SECRET" in response.json()["error"]
    assert rows(live) == []


def test_second_secret_verifies_during_rotation(make_live: Callable[..., Live]) -> None:
    live = make_live(env={**ENV, "NPS_BOT_ZENDESK_SIGNING_SECRET": f"old-secret,{SECRET}"})

    assert post(live, fixture("trigger_solved.json")).status_code == 202


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"event": "solved"}).encode(), "ticket"),
        (json.dumps({"event": "solved", "ticket": {"id": ""}}).encode(), "ticket.id"),
        (
            json.dumps({"type": "zen:event-type:ticket.status_changed", "id": "e1", "event": {}}).encode(),
            "detail",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_400(live: Live, raw: bytes, reason: str) -> None:
    response = post(live, raw)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(live) == []


def test_other_events_are_ignored(live: Live) -> None:
    created = post(live, fixture("event_ticket_created.json"))
    assert created.status_code == 202
    assert created.json()["status"] == "ignored"
    assert "ticket.created" in created.json()["reason"]

    pending = fixture("event_status_changed_solved.json")
    pending["event"] = {"current": "PENDING", "previous": "OPEN"}
    assert post(live, pending).json()["status"] == "ignored"

    auto_closed = fixture("event_status_changed_solved.json")
    auto_closed["event"] = {"current": "CLOSED", "previous": "SOLVED"}
    assert post(live, auto_closed).json()["status"] == "ignored"

    open_trigger = fixture("trigger_solved.json")
    del open_trigger["event"]
    open_trigger["ticket"]["status"] = "Open"
    assert post(live, open_trigger).json()["status"] == "ignored"

    assert rows(live) == []


def test_trigger_without_event_word_uses_the_status(live: Live) -> None:
    body = fixture("trigger_solved.json")
    del body["event"]

    assert post(live, body).json()["status"] == "scheduled"


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("trigger_solved.json")

    first = post(live, body, invocation="8350205582")
    second = post(live, body, invocation="8350205582")

    assert first.json()["status"] == "scheduled"
    assert second.status_code == 202
    assert second.json()["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_solve_reschedules(live: Live) -> None:
    assert post(live, fixture("trigger_solved.json"), invocation="1001").json()["status"] == "scheduled"

    held = post(live, fixture("trigger_reopened.json"), invocation="1002")
    assert held.json()["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    solved_again = fixture("trigger_solved.json")
    solved_again["ticket"]["updated_at"] = "2026-11-20T10:09Z"
    again = post(live, solved_again, invocation="1003")

    assert again.json()["status"] == "rescheduled"
    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"


# -- reply-back -----------------------------------------------------------------------------------------


def schedule_due(live: Live) -> int:
    response = post(live, fixture("trigger_solved.json"))
    assert response.json()["status"] == "scheduled", response.text
    return int(response.json()["survey_id"])


def mock_zendesk(router: respx.Router, *, status: str = "solved") -> tuple[respx.Route, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    show = fixture("api_ticket_show.json")
    show["ticket"]["status"] = status
    get = router.get(TICKET_URL).mock(return_value=httpx.Response(200, json=show))
    put = router.put(TICKET_URL).mock(return_value=httpx.Response(200, json=fixture("api_ticket_update.json")))
    return get, put


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
        get.side_effect = [httpx.Response(503), httpx.Response(200, json=fixture("api_ticket_show.json"))]
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
        put.side_effect = [httpx.ConnectTimeout("slow"), httpx.Response(200, json=fixture("api_ticket_update.json"))]
        replying.worker().run_once()

    assert rows(replying)[0].state == "sent"


def test_reply_back_without_credentials_is_unavailable(make_live: Callable[..., Live]) -> None:
    live = make_live(env={"NPS_BOT_ZENDESK_SIGNING_SECRET": SECRET}, delivery=["helpdesk"], survey_delay=timedelta(0))
    schedule_due(live)

    live.worker().run_once()

    [row] = rows(live)
    assert row.state == "undeliverable"
    assert "zendesk reply-back is off" in row.reason


# -- the signature scheme itself ------------------------------------------------------------------------


def test_signature_matches_the_documented_formula() -> None:
    raw = b'{"say": "hello"}'
    timestamp = "2021-07-25T10:00:00Z"
    expected = base64.b64encode(hmac.new(b"secret", timestamp.encode() + raw, hashlib.sha256).digest()).decode()

    assert compute("secret", timestamp, raw) == expected
    verify(["secret"], expected, timestamp, raw, now=datetime.fromisoformat(timestamp).timestamp(), tolerance=300)


def test_legacy_worked_example_from_the_2021_docs_verifies() -> None:
    # developer.zendesk.com (2021 edition): SECRET, BODY, TIMESTAMP and SIGNATURE as printed there.
    verify(
        ["HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA="],
        "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=",
        "2021-07-25T10:00:00Z",
        b'{"say": "hello"}',
        now=datetime.fromisoformat("2021-07-25T10:01:00+00:00").timestamp(),
        tolerance=300,
    )


def test_unix_second_timestamps_are_accepted_and_garbage_is_not() -> None:
    raw = b"{}"
    assert verify(["s"], compute("s", "1700000000", raw), "1700000000", raw, now=1700000100, tolerance=300) is None
    with pytest.raises(SignatureError, match="ISO 8601"):
        verify(["s"], compute("s", "yesterday", raw), "yesterday", raw, now=1700000100, tolerance=300)
