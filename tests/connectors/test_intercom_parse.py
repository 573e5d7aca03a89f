"""Intercom notifications -> Interactions, and the X-Hub-Signature check, without a server or a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.intercom import IntercomConnector, IntercomSettings
from nps_bot.plugin.ports import Unauthorized
from tests.connectors.helpers import (
    INTERCOM_SECRET,
    bad_payload_reason,
    check,
    hub_signature,
    intercom_headers,
    load,
    parse_ignored,
    parse_one,
    raw_of,
    request,
)

ADMIN_AUTHOR = {"type": "admin", "id": "5017690", "name": "Ona Petraitė", "email": "ona@acme.example"}


def connector(secret: list[str] | None = None) -> IntercomConnector:
    settings = IntercomSettings(
        client_secret=[INTERCOM_SECRET] if secret is None else secret,
        access_token="ic-access-token",
        admin_id="5017690",
        teams=["5017691=Billing"],
        attributes=["Plan", "external_id"],
    )
    return IntercomConnector(settings)


def signed(data: Any, **kwargs: Any) -> Any:
    raw = raw_of(data)
    return request(raw, intercom_headers(raw, **kwargs))


CLOSED = {
    "connector": "intercom",
    "event": "closed",
    "ticket_id": "137324500000123",
    "ticket_url": "https://app.intercom.com/a/apps/lkqcyt9t/conversations/137324500000123",
    "subject": "Invoice shows the wrong VAT",
    "channel": "chat",  # source.type "conversation" = the Messenger
    "team": "Billing",  # team_assignee_id 5017691, named in the teams setting
    "credited.assignee.id": "5017690",
    "credited.assignee.name": "Ona Petraitė",  # the admin's name comes from the close part's author
    "customer.language": "lt",  # conversation data attribute "Language"
    "closed_at": datetime(2026, 11, 20, 9, 55, tzinfo=UTC),
    "reply_context": {
        "conversation_id": "137324500000123",
        "contact_id": "6571f1a2b3c4d5e6f7a8b9c0",
        "app_id": "lkqcyt9t",
    },
    "tags": ("billing", "vat"),
    # the core adds "language" (negotiated from customer.language) to the stored attributes
    # only the attributes listed in NPS_BOT_INTERCOM_ATTRIBUTES: not Intercom's own "Copilot used"
    "customer.attributes": {"Plan": "pro", "external_id": "cust-4821"},
    "customer.email": "ruta@example.com",  # from source.author: the contact started the conversation
    "customer.name": "Rūta Jankauskienė",
}

CASES = [
    pytest.param("conversation_admin_closed.json", None, CLOSED, id="admin-closed-all-fields"),
    pytest.param(
        "conversation_admin_closed.json",
        {"data.item.source.author": ADMIN_AUTHOR, "data.item.source.delivered_as": "admin_initiated"},
        {"customer.email": None, "customer_key": "intercom:6571f1a2b3c4d5e6f7a8b9c0"},
        id="contact-known-only-by-id",
    ),
    pytest.param(
        "conversation_admin_closed_v1.json",
        None,
        {
            "ticket_id": "137324500000000",
            "ticket_url": "https://app.intercom.com/a/apps/lkqcyt9t/conversations/137324500000000",
            "credited.assignee.name": "Andy",
            "customer.email": "bob.dylan@rei.com",
        },
        id="api-version-1-payload",
    ),
    pytest.param("conversation_admin_opened.json", None, {"event": "reopened"}, id="admin-opened"),
    pytest.param("conversation_user_replied.json", None, {"event": "reopened"}, id="customer-reply-that-reopens"),
]


@pytest.mark.parametrize(("name", "changes", "expected"), CASES)
def test_payload_becomes_interaction(name: str, changes: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    check(parse_one(connector(), signed(load("intercom", name, changes))), expected)


def test_a_retried_notification_keeps_its_event_id() -> None:
    first = parse_one(connector(), signed(load("intercom", "conversation_admin_closed.json")))
    retry = parse_one(connector(), signed(load("intercom", "conversation_admin_closed.json", {"delivery_attempts": 2})))
    assert first.event_id == retry.event_id


def test_ping_is_ignored() -> None:
    assert parse_ignored(connector(), signed(load("intercom", "ping.json"))) == "ping"


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param("conversation.admin.replied", id="admin-replied"),
        pytest.param("conversation.user.replied", id="user-reply-that-left-it-closed"),
    ],
)
def test_other_topics_are_ignored(topic: str) -> None:
    parse_ignored(connector(), signed(load("intercom", "conversation_admin_closed.json", {"topic": topic})))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "malformed JSON", id="not-json"),
        pytest.param(b'"conversation.admin.closed"', "JSON object", id="string"),
        pytest.param(json.dumps({"type": "notification_event", "data": {}}).encode(), "topic", id="no-topic"),
        pytest.param(
            json.dumps({"topic": "conversation.admin.closed", "id": "notif_1", "data": {}}).encode(),
            "data.item",
            id="no-item",
        ),
        pytest.param(
            json.dumps(
                {"topic": "conversation.admin.closed", "id": "notif_1", "data": {"item": {"type": "x"}}}
            ).encode(),
            "id",
            id="item-without-id",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_bad_payload(raw: bytes, reason: str) -> None:
    assert reason in bad_payload_reason(connector(), signed(raw))


# -- verify -------------------------------------------------------------------------------------------


def test_wrong_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(signed(load("intercom", "conversation_admin_closed.json"), secret="another-apps-secret"))
    assert exc.value.reason == "X-Hub-Signature does not match"


def test_signature_must_be_over_the_raw_body() -> None:
    body = load("intercom", "conversation_admin_closed.json")
    signature = hub_signature(INTERCOM_SECRET, json.dumps(body).encode())
    with pytest.raises(Unauthorized):
        connector().verify(signed(json.dumps(body, indent=2).encode(), signature=signature))


def test_missing_signature_is_unauthorized() -> None:
    req = request(load("intercom", "conversation_admin_closed.json"), {"content-type": "application/json"})
    with pytest.raises(Unauthorized, match="X-Hub-Signature"):
        connector().verify(req)


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_INTERCOM_CLIENT_SECRET"):
        connector(secret=[]).verify(signed(load("intercom", "conversation_admin_closed.json")))
