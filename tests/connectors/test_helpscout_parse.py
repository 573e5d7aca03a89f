"""Help Scout webhooks -> Interactions, and the signature check, without a server or a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.helpscout import HelpScoutConnector, HelpScoutSettings
from nps_bot.plugin.ports import BadPayload, Unauthorized
from tests.connectors.helpers import (
    DELETE,
    HELPSCOUT_SECRET,
    check,
    helpscout_headers,
    load,
    parse_ignored,
    parse_one,
    raw_of,
    request,
)

CLOSER = {"id": 412, "type": "user", "first": "Jonas", "last": "Kazlauskas", "email": "j@acme.example"}


def connector(secret: list[str] | None = None) -> HelpScoutConnector:
    settings = HelpScoutSettings(
        secret=[HELPSCOUT_SECRET] if secret is None else secret,
        app_id="hs-app-id",
        app_secret="hs-app-secret",
        mailboxes=["85=Billing", "86=Sales"],
    )
    return HelpScoutConnector(settings)


def signed(data: Any, **kwargs: Any) -> Any:
    raw = raw_of(data)
    return request(raw, helpscout_headers(raw, **kwargs))


CLOSED = {
    "connector": "helpscout",
    "event": "closed",
    "ticket_id": "number-349",  # keyed as the survey links in Help Scout's e-mails key it
    "ticket_url": "https://secure.helpscout.net/conversation/2391938111/349?folderId=1234",
    "subject": "Invoice shows the wrong VAT",
    "channel": "email",
    "team": "Billing",  # mailbox 85, named in the mailboxes setting
    "credited.assignee.id": "256",
    "credited.assignee.name": "Ona Petraitė",
    "customer.language": "lt",  # the "Language" custom field says "Lithuanian"
    "closed_at": datetime(2026, 11, 20, 9, 55, tzinfo=UTC),
    "reply_context": {"conversation_id": "2391938111", "customer_id": "238604", "mailbox_id": "85"},
    "tags": ("billing", "vat"),
    # the core adds "language" (negotiated from customer.language) to the stored attributes
    "customer.attributes": {"Plan": "Pro", "Language": "Lithuanian"},
    "customer.email": "ruta@example.com",
    "customer.name": "Rūta Jankauskienė",
}
V1 = {
    "event": "closed",
    "ticket_id": "number-349",
    "ticket_url": "https://secure.helpscout.net/conversation/291938/349/",
    "credited.assignee.name": "Jack Sprout",
    "team": "My Mailbox",
    "tags": ("tag1", "tag2"),
    "customer.attributes": {"Team": "Development", "Customer Disposition": "Happy"},
    "customer.email": "vbear@mywork.com",
}

CASES = [
    pytest.param("convo_status_closed.json", "convo.status", None, CLOSED, id="closed-all-fields"),
    pytest.param("convo_status_closed_v1.json", "convo.status", None, V1, id="deprecated-v1-payload"),
    pytest.param(
        "convo_status_closed.json",
        "convo.status",
        {"closedByUser": CLOSER},
        {"credited.closer.name": "Jonas Kazlauskas", "credited.last_replier.name": "Ona Petraitė"},
        id="closer-and-last-replier-for-agent-credit",  # the newest published "message" thread
    ),
    pytest.param("convo_status_active.json", "convo.status", None, {"event": "reopened"}, id="active-again"),
    pytest.param(
        "convo_status_closed.json",
        "convo.status",
        {"number": DELETE},
        {"ticket_id": "2391938111", "reply_context": CLOSED["reply_context"]},
        id="no-number-keys-by-id",  # never "number-": nothing else could be mistaken for it
    ),
    pytest.param(
        "convo_status_active.json",
        "convo.customer.reply.created",
        None,
        {"event": "reopened", "ticket_id": "number-349"},
        id="customer-reply-to-closed-conversation",
    ),
]


@pytest.mark.parametrize(("name", "event", "changes", "expected"), CASES)
def test_payload_becomes_interaction(
    name: str, event: str, changes: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    check(parse_one(connector(), signed(load("helpscout", name, changes), event=event)), expected)


@pytest.mark.parametrize(
    ("event", "status"),
    [("helpscout.test", "closed"), ("convo.assigned", "closed"), ("convo.tags", "active"), ("convo.status", "spam")],
)
def test_other_events_are_ignored(event: str, status: str) -> None:
    parse_ignored(connector(), signed(load("helpscout", "convo_status_closed.json", {"status": status}), event=event))


@pytest.mark.parametrize(
    ("raw", "event", "reason"),
    [
        pytest.param(b"{not json", "convo.status", "malformed JSON", id="not-json"),
        pytest.param(b"[1, 2]", "convo.status", "JSON object", id="array"),
        pytest.param(json.dumps({"status": "closed", "number": 3}).encode(), "convo.status", "id", id="no-id"),
        pytest.param(json.dumps({"id": 1, "status": "closed"}).encode(), None, "X-HelpScout-Event", id="no-event"),
        pytest.param(
            json.dumps({"id": 1, "status": "closed", "primaryCustomer": {"id": 2, "email": "nope"}}).encode(),
            "convo.status",
            "e-mail",
            id="bad-email",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_bad_payload(raw: bytes, event: str | None, reason: str) -> None:
    c = connector()
    req = signed(raw, event=event)
    c.verify(req)
    with pytest.raises(BadPayload) as exc:
        c.parse(req)
    assert reason in exc.value.reason


# -- verify -------------------------------------------------------------------------------------------


def test_a_rotated_secret_still_verifies() -> None:
    connector(secret=["new-secret", HELPSCOUT_SECRET]).verify(signed(load("helpscout", "convo_status_closed.json")))


def test_wrong_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(signed(load("helpscout", "convo_status_closed.json"), secret="not-the-secret"))
    assert exc.value.reason == "X-HelpScout-Signature does not match"


def test_signature_must_cover_the_exact_raw_body() -> None:
    raw = json.dumps(load("helpscout", "convo_status_closed.json")).encode()
    headers = helpscout_headers(raw)
    with pytest.raises(Unauthorized):
        connector().verify(request(raw.replace(b'"closed"', b'"active"', 1), headers))


def test_missing_signature_is_unauthorized() -> None:
    req = request(load("helpscout", "convo_status_closed.json"), {"x-helpscout-event": "convo.status"})
    with pytest.raises(Unauthorized, match="X-HelpScout-Signature"):
        connector().verify(req)


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_HELPSCOUT_SECRET"):
        connector(secret=[]).verify(signed(load("helpscout", "convo_status_closed.json")))
