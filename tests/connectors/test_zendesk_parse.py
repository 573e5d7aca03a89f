"""Zendesk payloads -> Interactions, and the signature check, without a server or a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.zendesk import ZendeskConnector, ZendeskSettings
from integrations.zendesk.signature import SignatureError, compute, verify
from nps_bot.plugin.ports import Unauthorized
from tests.connectors.helpers import (
    DELETE,
    NOW,
    ZENDESK_SECRET,
    bad_payload_reason,
    check,
    load,
    raw_of,
    request,
    zendesk_headers,
    zendesk_signature,
)


def connector(secret: list[str] | None = None) -> ZendeskConnector:
    settings = ZendeskSettings(
        signing_secret=[ZENDESK_SECRET] if secret is None else secret,
        subdomain="acme",
        email="nps-bot@acme.example",
        api_token="zd-api-token",
    )
    return ZendeskConnector(settings, tolerance=300)


def body(name: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    return load("zendesk", name, changes)


def signed(data: Any, **kwargs: Any) -> Any:
    raw = raw_of(data)
    return request(raw, zendesk_headers(raw, **kwargs))


def parse_one(data: Any, **kwargs: Any) -> Any:
    c = connector()
    req = signed(data, **kwargs)
    c.verify(req)
    parsed = c.parse(req)
    assert parsed.ignored is None
    [interaction] = parsed.interactions
    return interaction


TRIGGER_SOLVED = {
    "connector": "zendesk",
    "event": "closed",
    "event_id": "invocation:8350205582",
    "ticket_id": "35436",
    "ticket_url": "https://acme.zendesk.com/agent/tickets/35436",
    "subject": "Invoice shows the wrong VAT",
    "channel": "web_form",
    "team": "Billing",
    "tags": ("billing", "vat"),
    "closed_at": datetime(2026, 11, 20, 9, 55, tzinfo=UTC),
    "credited.assignee.id": "235324",
    "credited.assignee.name": "Ona Petraitė",
    "customer.email": "ruta@example.com",
    "customer.name": "Rūta Jankauskienė",
    "customer.language": "lt",
    # the core adds "language" to the stored attributes from customer.language
    "customer.attributes": {"plan": "pro", "organization": "UAB Pavyzdys", "brand": "Acme"},
}
EVENT_SOLVED = {
    "event": "closed",
    "ticket_id": "5158",
    "ticket_url": "https://acme.zendesk.com/agent/tickets/5158",
    "subject": "Cannot login to mobile app",
    "channel": "web_form",
    "team": "8447320466430",  # the event carries the group id only
    "credited.assignee.id": "8447388090494",
    "customer.language": None,  # no language in the event: the core stores its default ("en")
    "customer_key": "zendesk:8447388090495",
    "reply_context": {"account_id": "22129848", "group_id": "8447320466430"},
    "tags": ("login", "mobile"),
    "customer.attributes": {
        "organization_id": "8447346622462",
        "brand_id": "8447346621310",
        "form_id": "8447325827582",
    },
}

CASES = [
    pytest.param("trigger_solved.json", None, TRIGGER_SOLVED, id="trigger-solved-all-fields"),
    pytest.param(
        "trigger_solved.json",
        {"requester.locale": "", "requester.language": "Ukrainian"},
        {"customer.language": "uk"},
        id="trigger-language-name-when-locale-placeholder-empty",
    ),
    pytest.param(
        "trigger_solved.json",
        {
            "attributes": {"plan": "{{ticket.ticket_field_360000000001}}"},
            "assignee": {"id": "", "name": "", "email": ""},
            "ticket.tags": ["billing", "", "{{ticket.tags}}"],
        },
        {
            "credited.assignee.name": "Ona Petraitė",  # falls back to the closer (current_user)
            "customer.attributes": {"organization": "UAB Pavyzdys", "brand": "Acme"},  # no "plan"
            "tags": ("billing",),
        },
        id="trigger-unrendered-placeholders-count-as-missing",
    ),
    pytest.param(
        "trigger_solved.json", {"event": DELETE}, {"event": "closed"}, id="trigger-without-event-word-uses-status"
    ),
    pytest.param("trigger_reopened.json", None, {"event": "reopened", "ticket_id": "35436"}, id="trigger-reopened"),
    pytest.param("event_status_changed_solved.json", None, EVENT_SOLVED, id="event-status-changed-solved"),
    pytest.param(
        "event_status_changed_reopened.json", None, {"event": "reopened", "ticket_id": "5158"}, id="event-reopened"
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES)
def test_payload_becomes_interaction(name: str, change: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    check(parse_one(body(name, change)), expected)


def test_without_invocation_id_the_event_id_is_ticket_event_and_update_time() -> None:
    interaction = parse_one(body("trigger_solved.json"), invocation=None)
    assert interaction.event_id.startswith("ticket:35436:closed:")


def test_event_id_comes_from_the_event_envelope() -> None:
    first = parse_one(body("event_status_changed_solved.json"))
    again = parse_one(body("event_status_changed_solved.json", {"id": "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f"}))
    assert first.event_id != again.event_id


IGNORED = [
    pytest.param("event_ticket_created.json", None, "ticket.created", id="event-ticket-created"),
    pytest.param(
        "event_status_changed_solved.json",
        {"event": {"current": "PENDING", "previous": "OPEN"}},
        "",
        id="event-open-to-pending",
    ),
    pytest.param(
        "event_status_changed_solved.json",
        {"event": {"current": "CLOSED", "previous": "SOLVED"}},
        "",
        id="event-auto-close-after-solve",
    ),
    pytest.param("trigger_solved.json", {"event": DELETE, "ticket.status": "Open"}, "", id="trigger-open-status"),
]


@pytest.mark.parametrize(("name", "change", "reason"), IGNORED)
def test_other_events_are_ignored(name: str, change: dict[str, Any] | None, reason: str) -> None:
    c = connector()
    req = signed(body(name, change))
    c.verify(req)
    parsed = c.parse(req)
    assert parsed.interactions == ()
    assert parsed.ignored
    assert reason in parsed.ignored


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "malformed JSON", id="not-json"),
        pytest.param(b"[1, 2]", "JSON object", id="array"),
        pytest.param(json.dumps({"event": "solved"}).encode(), "ticket", id="no-ticket"),
        pytest.param(json.dumps({"event": "solved", "ticket": {"id": ""}}).encode(), "ticket.id", id="empty-ticket-id"),
        pytest.param(
            json.dumps({"type": "zen:event-type:ticket.status_changed", "id": "e1", "event": {}}).encode(),
            "detail",
            id="event-without-detail",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_bad_payload(raw: bytes, reason: str) -> None:
    assert reason in bad_payload_reason(connector(), signed(raw))


# -- verify -------------------------------------------------------------------------------------------


def test_bad_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(signed(body("trigger_solved.json"), secret="not-the-secret"))
    assert exc.value.reason == "signature does not match"


def test_tampered_body_is_unauthorized() -> None:
    raw = json.dumps(body("trigger_solved.json")).encode()
    headers = zendesk_headers(raw)
    with pytest.raises(Unauthorized):
        connector().verify(request(raw.replace(b"35436", b"35437"), headers))


def test_stale_timestamp_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="window"):
        connector().verify(signed(body("trigger_solved.json"), at=NOW - timedelta(minutes=6)))


def test_missing_signature_headers_are_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="X-Zendesk-Webhook-Signature"):
        connector().verify(request(body("trigger_solved.json"), {"content-type": "application/json"}))


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_ZENDESK_SIGNING_SECRET"):
        connector(secret=[]).verify(signed(body("trigger_solved.json")))


def test_second_secret_verifies_during_rotation() -> None:
    connector(secret=["old-secret", ZENDESK_SECRET]).verify(signed(body("trigger_solved.json")))


# -- the signature scheme itself ------------------------------------------------------------------------


def test_signature_matches_the_documented_formula() -> None:
    raw = b'{"say": "hello"}'
    timestamp = "2021-07-25T10:00:00Z"
    expected = zendesk_signature("secret", timestamp, raw)

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
