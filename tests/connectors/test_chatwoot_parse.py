"""Chatwoot webhooks -> Interactions, and the signature / shared-token check, without a server or a database."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.chatwoot import ChatwootConnector, ChatwootSettings
from integrations.chatwoot.connector import compute_signature
from nps_bot.plugin.ports import Unauthorized
from tests.connectors.helpers import (
    CHATWOOT_SECRET,
    CHATWOOT_TOKEN,
    DELETE,
    NOW,
    bad_payload_reason,
    chatwoot_headers,
    check,
    load,
    parse_ignored,
    parse_one,
    raw_of,
    request,
)

BASE = "https://chat.acme.example"


def connector(secret: list[str] | None = None, token: list[str] | None = None) -> ChatwootConnector:
    settings = ChatwootSettings(
        secret=[CHATWOOT_SECRET] if secret is None else secret,
        token=token or [],
        base_url=BASE,
        api_token="cw-api-token",
    )
    return ChatwootConnector(settings, tolerance=300)


def token_install() -> ChatwootConnector:
    return connector(secret=[], token=[CHATWOOT_TOKEN])


def signed(data: Any, *, query: dict[str, str] | None = None, at: datetime = NOW, **kwargs: Any) -> Any:
    raw = raw_of(data)
    return request(raw, chatwoot_headers(raw, at=at, **kwargs), query=query, at=at)


RESOLVED = {
    "connector": "chatwoot",
    "event": "closed",
    "ticket_id": "10",
    "ticket_url": f"{BASE}/app/accounts/3/conversations/10",
    "channel": "web_widget",
    "team": "Billing",
    "credited.assignee.id": "1",
    "credited.assignee.name": "Ona Petraitė",
    "customer.language": "lt",
    # updated_at (when the status changed), not `timestamp` (the last message, 08:35)
    "closed_at": datetime(2026, 11, 20, 9, 55, 0, 123456, tzinfo=UTC),
    "reply_context": {"conversation_id": "10", "account_id": "3"},
    "tags": ("billing", "vat"),
    "customer.email": "ruta@example.com",
}
PENDING_AFTER_RESOLVED = {
    "status": "pending",
    "changed_attributes": [{"status": {"previous_value": "resolved", "current_value": "pending"}}],
}

CASES = [
    pytest.param("status_changed_resolved.json", None, None, RESOLVED, id="resolved-all-fields"),
    pytest.param("status_changed_open.json", None, None, {"event": "reopened", "ticket_id": "10"}, id="reopened"),
    pytest.param(
        "status_changed_open.json",
        PENDING_AFTER_RESOLVED,
        None,
        {"event": "reopened"},
        id="bot-inbox-pending-after-resolved",
    ),
    pytest.param(
        "status_changed_resolved.json",
        # as in the docs' conversation_resolved sample: the event decides, not the status
        {"event": "conversation_resolved", "changed_attributes": DELETE, "status": "open"},
        None,
        {"event": "closed"},
        id="deprecated-conversation-resolved",
    ),
    pytest.param(
        "status_changed_open.json",
        {"event": "conversation_opened", "changed_attributes": DELETE},
        None,
        {"event": "reopened"},
        id="deprecated-conversation-opened",
    ),
    pytest.param(
        "status_changed_resolved.json",
        {"updated_at": DELETE},
        None,
        {"event": "closed", "closed_at": None},  # no close time in the payload: the core uses now
        id="older-version-without-updated-at",
    ),
]


@pytest.mark.parametrize(("name", "changes", "query", "expected"), CASES)
def test_payload_becomes_interaction(
    name: str, changes: dict[str, Any] | None, query: dict[str, str] | None, expected: dict[str, Any]
) -> None:
    check(parse_one(connector(), signed(load("chatwoot", name, changes), query=query)), expected)


def test_resolved_attributes() -> None:
    interaction = parse_one(connector(), signed(load("chatwoot", "status_changed_resolved.json")))
    stored = {**interaction.customer.attributes, "language": "lt"}  # the core adds the negotiated language
    assert stored == {"plan": "pro", "language": "lt", "order_id": "48213", "inbox_id": "1"}


def test_account_id_may_come_from_the_webhook_url() -> None:
    body = load("chatwoot", "status_changed_resolved.json")
    for message in body["messages"]:
        del message["account_id"]
    req = request(body, query={"token": CHATWOOT_TOKEN, "account_id": "7"})
    interaction = parse_one(token_install(), req)
    assert interaction.reply_context == {"conversation_id": "10", "account_id": "7"}
    assert interaction.ticket_url == f"{BASE}/app/accounts/7/conversations/10"


def test_without_updated_at_the_arrival_time_tells_a_second_resolve_from_a_redelivery() -> None:
    """Older payloads (the docs sample) have only `timestamp`, the last message."""
    resolved = load("chatwoot", "status_changed_resolved.json", {"updated_at": DELETE})
    first = parse_one(connector(), signed(resolved))
    later = parse_one(connector(), signed(resolved, at=NOW + timedelta(minutes=5)))
    assert first.event_id != later.event_id


IGNORED = [
    pytest.param("conversation_created.json", None, "conversation_created", id="conversation-created"),
    pytest.param(
        "status_changed_resolved.json",
        {
            "status": "pending",
            "changed_attributes": [{"status": {"previous_value": "open", "current_value": "pending"}}],
        },
        "",
        id="open-to-pending",
    ),
    pytest.param(
        "status_changed_open.json",
        {"changed_attributes": [{"status": {"previous_value": "pending", "current_value": "open"}}]},
        "",
        id="bot-handoff-pending-to-open",
    ),
]


@pytest.mark.parametrize(("name", "changes", "reason"), IGNORED)
def test_other_events_are_ignored(name: str, changes: dict[str, Any] | None, reason: str) -> None:
    assert reason in parse_ignored(connector(), signed(load("chatwoot", name, changes)))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "malformed JSON", id="not-json"),
        pytest.param(b"[1, 2]", "JSON object", id="array"),
        pytest.param(json.dumps({"status": "resolved", "id": 3}).encode(), "event", id="no-event"),
        pytest.param(
            json.dumps({"event": "conversation_status_changed", "status": "resolved"}).encode(), "id", id="no-id"
        ),
    ],
)
def test_malformed_or_wrong_shape_is_bad_payload(raw: bytes, reason: str) -> None:
    assert reason in bad_payload_reason(connector(), signed(raw))


# -- verify -------------------------------------------------------------------------------------------


def test_unsigned_install_with_shared_token() -> None:
    body = load("chatwoot", "status_changed_resolved.json")
    token_install().verify(request(body, query={"token": CHATWOOT_TOKEN}))
    token_install().verify(request(body, {"X-NPS-Token": CHATWOOT_TOKEN}))

    with pytest.raises(Unauthorized) as wrong:
        token_install().verify(request(body, query={"token": "guess"}))
    assert wrong.value.reason == "token does not match"

    with pytest.raises(Unauthorized, match=r"\?token="):
        token_install().verify(request(body))


def test_bad_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(signed(load("chatwoot", "status_changed_resolved.json"), secret="not-the-secret"))
    assert exc.value.reason == "signature does not match"


def test_tampered_body_is_unauthorized() -> None:
    raw = json.dumps(load("chatwoot", "status_changed_resolved.json")).encode()
    headers = chatwoot_headers(raw)
    with pytest.raises(Unauthorized):
        connector().verify(request(raw.replace(b'"id": 10', b'"id": 11'), headers))


def test_stale_timestamp_is_unauthorized() -> None:
    raw = raw_of(load("chatwoot", "status_changed_resolved.json"))
    headers = chatwoot_headers(raw, at=NOW - timedelta(minutes=6))
    with pytest.raises(Unauthorized, match="window"):
        connector().verify(request(raw, headers))


def test_unsigned_request_when_a_secret_is_configured_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="X-Chatwoot-Signature"):
        connector().verify(signed(load("chatwoot", "status_changed_resolved.json"), secret=None))


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_CHATWOOT_SECRET"):
        connector(secret=[]).verify(signed(load("chatwoot", "status_changed_resolved.json")))


def test_signature_matches_the_documented_formula() -> None:
    raw = b'{"event":"conversation_status_changed"}'
    expected = "sha256=" + hmac.new(b"s", b"1700000000." + raw, hashlib.sha256).hexdigest()

    assert compute_signature("s", "1700000000", raw) == expected
