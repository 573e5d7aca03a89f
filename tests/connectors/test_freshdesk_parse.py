"""Freshdesk rule webhooks -> Interactions, and the shared-secret check, without a server or a database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.freshdesk import FreshdeskConnector, FreshdeskSettings
from nps_bot.plugin.ports import Unauthorized
from tests.connectors.helpers import (
    DELETE,
    FRESHDESK_SECRET,
    bad_payload_reason,
    check,
    freshdesk_headers,
    load,
    parse_ignored,
    parse_one,
    raw_of,
    request,
)


def connector(secret: list[str] | None = None) -> FreshdeskConnector:
    return FreshdeskConnector(
        FreshdeskSettings(secret=[FRESHDESK_SECRET] if secret is None else secret, domain="acme", api_key="fd-api-key")
    )


def signed(data: Any, *, token: str | None = FRESHDESK_SECRET, **kwargs: Any) -> Any:
    raw = raw_of(data)
    return request(raw, freshdesk_headers(raw, token=token), **kwargs)


RESOLVED = {
    "connector": "freshdesk",
    "event": "closed",
    "ticket_id": "4821",
    "ticket_url": "https://acme.freshdesk.com/helpdesk/tickets/4821",
    "subject": "Invoice shows the wrong VAT",
    "channel": "email",
    "team": "Billing",
    "credited.assignee.name": "Ona Petraitė",
    "customer.language": "lt",
    "closed_at": datetime(2026, 11, 20, 9, 55, tzinfo=UTC),
    "tags": ("billing", "vat"),
    # the core adds "language" to the stored attributes from customer.language
    "customer.attributes": {"plan": "pro", "company": "UAB Pavyzdys", "ticket_type": "Question"},
    "customer.email": "ruta@example.com",
}

CASES = [
    pytest.param("rule_resolved.json", None, RESOLVED, id="resolved-all-fields"),
    pytest.param(
        "rule_resolved.json",
        {"event": DELETE, "ticket.status": 5, "ticket.id": 4821, "ticket.source": "7"},  # unquoted {{ticket.id}}
        {"event": "closed", "ticket_id": "4821", "channel": "chat"},
        id="closed-status-number-without-event-word",
    ),
    pytest.param("rule_reopened.json", None, {"event": "reopened", "ticket_id": "4821"}, id="reopened"),
]


@pytest.mark.parametrize(("name", "changes", "expected"), CASES)
def test_payload_becomes_interaction(name: str, changes: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    check(parse_one(connector(), signed(load("freshdesk", name, changes))), expected)


def test_event_id_is_ticket_event_and_update_time() -> None:
    first = parse_one(connector(), signed(load("freshdesk", "rule_resolved.json")))
    later = parse_one(
        connector(), signed(load("freshdesk", "rule_resolved.json", {"ticket.updated_at": "2026-11-20T10:09:00Z"}))
    )
    assert first.event_id.startswith("4821:closed:")
    assert first.event_id != later.event_id


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"event": DELETE, "ticket.status": "Pending"}, id="pending-status"),
        pytest.param({"event": "note_added"}, id="note-added"),
    ],
)
def test_other_events_are_ignored(changes: dict[str, Any]) -> None:
    parse_ignored(connector(), signed(load("freshdesk", "rule_resolved.json", changes)))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "malformed JSON", id="not-json"),
        pytest.param(b'"resolved"', "JSON object", id="string"),
        pytest.param(json.dumps({"event": "resolved"}).encode(), "ticket", id="no-ticket"),
        pytest.param(
            json.dumps({"event": "resolved", "ticket": {"id": "{{ticket.id}}"}}).encode(),
            "ticket.id",
            id="unrendered-ticket-id",
        ),
        pytest.param(
            json.dumps({"event": "resolved", "ticket": {"id": "1"}, "contact": {"email": "not-an-address"}}).encode(),
            "e-mail",
            id="bad-email",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_bad_payload(raw: bytes, reason: str) -> None:
    assert reason in bad_payload_reason(connector(), signed(raw))


# -- verify -------------------------------------------------------------------------------------------


def test_token_may_come_in_the_query_string() -> None:
    connector().verify(signed(load("freshdesk", "rule_resolved.json"), token=None, query={"token": FRESHDESK_SECRET}))


def test_token_may_come_as_the_rule_authentication_api_key() -> None:
    basic = "Basic " + base64.b64encode(f"{FRESHDESK_SECRET}:X".encode()).decode()
    connector().verify(request(load("freshdesk", "rule_resolved.json"), {"authorization": basic}))


def test_wrong_token_is_unauthorized() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(signed(load("freshdesk", "rule_resolved.json"), token="guess"))
    assert exc.value.reason == "X-NPS-Token does not match"


def test_missing_token_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="X-NPS-Token"):
        connector().verify(signed(load("freshdesk", "rule_resolved.json"), token=None))


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_FRESHDESK_SECRET"):
        connector(secret=[]).verify(signed(load("freshdesk", "rule_resolved.json")))
