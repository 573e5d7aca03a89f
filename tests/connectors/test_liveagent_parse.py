"""LiveAgent rule bodies -> Interactions, and the shared-token check, without a server or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.liveagent import LiveAgentConnector, LiveAgentSettings
from nps_bot.plugin.ports import BadPayload, Unauthorized, WebhookRequest
from tests.connectors.helpers import (
    DELETE,
    FIXTURES,
    LIVEAGENT_SECRET,
    NOW,
    check,
    load,
    parse_ignored,
    parse_one,
    raw_of,
    request,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CLOSED_AT = datetime(2026, 11, 20, 9, 55, tzinfo=UTC)


def connector(secret: list[str] | None = None) -> LiveAgentConnector:
    # As helpers.LIVEAGENT_ENV: the rotated-out token first, the current one second.
    settings = LiveAgentSettings(
        secret=["old-token", LIVEAGENT_SECRET] if secret is None else secret,
        url="https://acme.ladesk.com/",
        api_key="la-api-key",
        useridentifier="surveys@acme.example",
    )
    return LiveAgentConnector(settings)


def body(name: str | bytes, changes: dict[str, Any] | None = None) -> bytes:
    """A JSON fixture with changes, the form fixture (rule_resolved.form.txt), or raw bytes as given."""
    if isinstance(name, bytes):
        return name
    if name.endswith(".txt"):
        return (FIXTURES / "liveagent" / name).read_bytes().strip()
    return raw_of(load("liveagent", name, changes))


def sent(
    data: str | bytes,
    changes: dict[str, Any] | None = None,
    *,
    content_type: str | None = JSON,
    token: str | None = LIVEAGENT_SECRET,
    headers: dict[str, str] | None = None,
    at: datetime = NOW,
) -> WebhookRequest:
    """As the rule's "HTTP request" action sends: the token in the URL, the body with the admin's content type."""
    all_headers = {"content-type": content_type} if content_type else {}
    query = {"token": token} if token is not None else {}
    return request(body(data, changes), all_headers | (headers or {}), query=query, at=at)


def context(status: str) -> dict[str, str]:
    """The reply context of the fixture ticket, as it was put in `status` (a LiveAgent status letter)."""
    return {"ticket_id": "a9f3c2d1", "conversation_id": "a9f3c2d1", "ticket_code": "KQR-GHT-418", "status": status}


RESOLVED = {
    "connector": "liveagent",
    "event": "closed",
    "event_id": "a9f3c2d1:R:2026-11-20T09:55:00+00:00",
    "ticket_id": "a9f3c2d1",
    "ticket_url": None,
    "kind": "nps",
    "subject": "Invoice shows the wrong VAT",
    "channel": "email",
    "team": "Billing",
    "tags": ("billing", "vat"),
    "closed_at": CLOSED_AT,
    "credited.assignee.id": "7c1e9b02",
    "credited.assignee.name": "Ona Petraitė",
    "customer.email": "ruta@example.com",  # lower-cased
    "customer.name": "Rūta Jankauskienė",
    "customer.external_id": "c0ffee42",
    "customer.language": "lt",
    # the core adds "language" to the stored attributes from customer.language
    "customer.attributes": {"plan": "pro"},
    "customer_key": "email:ruta@example.com",
    "reply_context": {
        "ticket_id": "a9f3c2d1",
        "conversation_id": "a9f3c2d1",
        "ticket_code": "KQR-GHT-418",
        "status": "R",
    },
}

CASES = [
    pytest.param("rule_resolved.json", None, JSON, RESOLVED, id="json-resolved-all-fields"),
    pytest.param("rule_resolved.form.txt", None, FORM, RESOLVED, id="form-resolved-all-fields"),
    # The rule editor's content type is the admin's choice: a body that is neither is sniffed.
    pytest.param("rule_resolved.form.txt", None, "text/plain", RESOLVED, id="form-sent-as-text-plain-is-sniffed"),
    pytest.param("rule_resolved.form.txt", None, None, RESOLVED, id="form-without-content-type-is-sniffed"),
    pytest.param("rule_resolved.json", None, "text/plain", RESOLVED, id="json-sent-as-text-plain"),
    pytest.param(
        "rule_resolved.json",
        {"status": "Closed", "channel": "B"},
        JSON,
        {"event": "closed", "channel": "chat", "reply_context": context("L")},
        id="status-word-closed-and-contact-button-channel",
    ),
    pytest.param(
        "rule_resolved.json", {"status": "resolved"}, JSON, {"reply_context": context("R")}, id="status-word-resolved"
    ),
    pytest.param(
        "rule_resolved.json", {"status": " l "}, JSON, {"event": "closed", "reply_context": context("L")}, id="letter-l"
    ),
    pytest.param(
        "rule_reopened.json",
        None,
        JSON,
        {"event": "reopened", "ticket_id": "a9f3c2d1", "closed_at": None, "reply_context": context("C")},
        id="reopened-open",
    ),
    pytest.param("rule_resolved.json", {"status": "A"}, JSON, {"event": "reopened"}, id="answered-again-reopens"),
    pytest.param("rule_resolved.json", {"status": "New"}, JSON, {"event": "reopened"}, id="status-word-new-reopens"),
    pytest.param("rule_resolved.json", {"channel": "I"}, JSON, {"channel": "chat"}, id="channel-invitation"),
    pytest.param("rule_resolved.json", {"channel": "W"}, JSON, {"channel": "phone"}, id="channel-call-button"),
    pytest.param("rule_resolved.json", {"channel": "f"}, JSON, {"channel": "facebook"}, id="channel-lower-case"),
    pytest.param("rule_resolved.json", {"channel": "Viber"}, JSON, {"channel": "viber"}, id="channel-unknown-kept"),
    pytest.param("rule_resolved.json", {"channel": ""}, JSON, {"channel": None}, id="channel-blank"),
    pytest.param(
        "rule_resolved.json",
        {"changed_at": "2026-11-20T11:55:00+02:00"},
        JSON,
        {"closed_at": CLOSED_AT, "event_id": RESOLVED["event_id"]},
        id="changed-at-iso-with-offset",
    ),
    pytest.param(
        "rule_resolved.json", {"changed_at": "2026-11-20T09:55:00Z"}, JSON, {"closed_at": CLOSED_AT}, id="changed-at-z"
    ),
    pytest.param(
        "rule_resolved.json", {"changed_at": "1795168500"}, JSON, {"closed_at": CLOSED_AT}, id="changed-at-unix-text"
    ),
    pytest.param(
        "rule_resolved.json", {"changed_at": 1795168500}, JSON, {"closed_at": CLOSED_AT}, id="changed-at-unix-number"
    ),
    pytest.param(
        "rule_resolved.json",
        {"changed_at": 1795168500000},
        JSON,
        {"closed_at": CLOSED_AT},
        id="changed-at-unix-milliseconds",
    ),
    pytest.param(
        "rule_resolved.json",
        {"changed_at": ""},
        JSON,
        # no close time: the core uses now; the event id takes the arrival time
        {"closed_at": None, "event_id": "a9f3c2d1:R:2026-11-20T10:00:00+00:00"},
        id="changed-at-blank",
    ),
    pytest.param(
        "rule_resolved.json", {"event_id": "rule-run-77"}, JSON, {"event_id": "rule-run-77"}, id="event-id-given"
    ),
    pytest.param(
        "rule_resolved.json",
        {"tags": ["billing", "vat"], "custom_fields": None, "survey": "csat"},
        JSON,
        {"tags": ("billing", "vat"), "customer.attributes": {}, "kind": "csat"},
        id="tags-list-no-custom-fields-csat",
    ),
    pytest.param(
        "rule_resolved.json",
        {"conversation_id": "", "ticket_code": DELETE},
        JSON,
        {"reply_context": {"ticket_id": "a9f3c2d1", "status": "R"}},  # reply-back falls back to ticket_id
        id="no-conversation-id",
    ),
    pytest.param(
        "rule_resolved.json",
        {"agent_id": "", "agent_name": "", "agent_email": ""},
        JSON,
        {"credited.assignee": None},
        id="no-agent-assigned-yet",
    ),
    pytest.param(
        "rule_resolved.json",
        {"custom_fields": {"plan": "pro", "region": "EU"}, "ticket_url": "https://acme.ladesk.com/agent/#Ticket;a9f3"},
        JSON,
        {
            "customer.attributes": {"plan": "pro", "region": "EU"},
            "ticket_url": "https://acme.ladesk.com/agent/#Ticket;a9f3",
        },
        id="custom-fields-and-ticket-url",
    ),
    pytest.param(
        b"ticket_id=a9f3c2d1&status=r&tags[]=billing&tags[]=vat&custom_fields[plan]=pro&custom_fields[region]=EU",
        None,
        FORM,
        {
            "event": "closed",
            "tags": ("billing", "vat"),
            "customer.attributes": {"plan": "pro", "region": "EU"},
            "closed_at": None,
            "customer_key": None,
            "reply_context": {"ticket_id": "a9f3c2d1", "status": "R"},
        },
        id="form-tag-list-and-custom-fields",
    ),
]


@pytest.mark.parametrize(("name", "changes", "content_type", "expected"), CASES)
def test_rule_body_becomes_interaction(
    name: str | bytes, changes: dict[str, Any] | None, content_type: str | None, expected: dict[str, Any]
) -> None:
    check(parse_one(connector(), sent(name, changes, content_type=content_type)), expected)


def test_without_changed_at_the_arrival_time_tells_a_second_close_from_a_redelivery() -> None:
    undated = {"changed_at": DELETE}
    first = parse_one(connector(), sent("rule_resolved.json", undated))
    later = parse_one(connector(), sent("rule_resolved.json", undated, at=NOW + timedelta(minutes=5)))
    assert first.event_id != later.event_id


def test_redelivery_has_the_same_event_id() -> None:
    assert (
        parse_one(connector(), sent("rule_resolved.json")).event_id
        == parse_one(connector(), sent("rule_resolved.json", at=NOW + timedelta(minutes=5))).event_id
    )


def test_attributes_setting_limits_the_custom_fields_kept() -> None:
    settings = LiveAgentSettings(secret=[LIVEAGENT_SECRET], attributes=["plan"])
    changes = {"custom_fields": {"plan": "pro", "region": "EU"}}
    interaction = parse_one(LiveAgentConnector(settings), sent("rule_resolved.json", changes))
    assert interaction.customer.attributes == {"plan": "pro"}


IGNORED = [
    pytest.param(
        "rule_postponed.json",
        None,
        "ticket status 'postponed' is not resolved, closed or re-opened",
        id="postponed",
    ),
    pytest.param(
        "rule_resolved.json", {"status": "B"}, "ticket status 'spam' is not resolved, closed or re-opened", id="spam"
    ),
    pytest.param("rule_resolved.json", {"status": "X"}, "'deleted'", id="deleted"),
    pytest.param("rule_resolved.json", {"status": "escalated"}, "'escalated'", id="unknown-word"),
]


@pytest.mark.parametrize(("name", "changes", "reason"), IGNORED)
def test_other_statuses_are_ignored(name: str, changes: dict[str, Any] | None, reason: str) -> None:
    assert reason in parse_ignored(connector(), sent(name, changes))


BAD = [
    pytest.param(b'{"ticket_id": "a9f3c2d1", ', None, JSON, "malformed JSON", id="truncated-json"),
    pytest.param(b"[1, 2]", None, JSON, "body must be a JSON object", id="json-array"),
    pytest.param(raw_of({"status": "R"}), None, JSON, "ticket_id", id="no-ticket-id"),
    pytest.param(raw_of({"ticket_id": "a9f3c2d1"}), None, JSON, "status", id="no-status"),
    pytest.param("rule_resolved.json", {"changed_at": "yesterday"}, JSON, "changed_at", id="changed-at-not-a-date"),
    pytest.param("rule_resolved.json", {"contact_email": "not-an-address"}, JSON, "email", id="not-an-email"),
    pytest.param(b"ticket_id=a9f3c2d1&status&&==", None, FORM, "malformed form body", id="malformed-form"),
]


@pytest.mark.parametrize(("name", "changes", "content_type", "reason"), BAD)
def test_malformed_or_wrong_shape_is_bad_payload(
    name: str | bytes, changes: dict[str, Any] | None, content_type: str, reason: str
) -> None:
    c = connector()
    req = sent(name, changes, content_type=content_type)
    c.verify(req)
    with pytest.raises(BadPayload) as exc:
        c.parse(req)
    assert reason in exc.value.reason
    assert exc.value.status == 400


UNEXPANDED = [
    pytest.param("rule_unexpanded.json", JSON, ["contact_email", "custom_fields.plan"], id="json"),
    pytest.param(
        b"ticket_id=a9f3c2d1&status=R&contact_email=%7B%24contact_email%7D", FORM, ["contact_email"], id="form"
    ),
    pytest.param(
        raw_of(load("liveagent", "rule_resolved.json", {"tags": ["billing", "{$ticket_tags}"]})),
        JSON,
        ["tags[1]"],
        id="inside-a-list",
    ),
]


@pytest.mark.parametrize(("name", "content_type", "named"), UNEXPANDED)
def test_unexpanded_variables_are_refused_with_the_fields_named(
    name: str | bytes, content_type: str, named: list[str]
) -> None:
    c = connector()
    req = sent(name, content_type=content_type)
    c.verify(req)
    with pytest.raises(BadPayload) as exc:
        c.parse(req)
    for field in named:
        assert field in exc.value.reason
    assert "{$" not in exc.value.reason, "the reason names fields, it does not echo values"


# -- verify -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        pytest.param(LIVEAGENT_SECRET, None, id="query-token"),
        pytest.param("old-token", None, id="rotated-out-token-still-works"),
        pytest.param(None, {"X-NPS-Token": LIVEAGENT_SECRET}, id="x-nps-token-header"),
        pytest.param(None, {"X-NPS-Bot-Token": LIVEAGENT_SECRET}, id="deprecated-header-still-works"),
    ],
)
def test_the_shared_token_verifies(token: str | None, headers: dict[str, str] | None) -> None:
    connector().verify(sent("rule_resolved.json", token=token, headers=headers))


@pytest.mark.parametrize(
    ("token", "reason"),
    [("wrong-token", "does not match"), (None, "missing token"), ("", "missing token"), ("  ", "missing token")],
)
def test_bad_or_missing_token_is_unauthorized(token: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(sent("rule_resolved.json", token=token))
    assert reason in exc.value.reason
    assert exc.value.status == 401


def test_a_wrong_header_token_names_the_header() -> None:
    with pytest.raises(Unauthorized) as exc:
        connector().verify(sent("rule_resolved.json", token=None, headers={"X-NPS-Token": "guess"}))
    assert exc.value.reason == "X-NPS-Token does not match"


def test_missing_secret_configuration_refuses_everything() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_LIVEAGENT_SECRET"):
        connector(secret=[]).verify(sent("rule_resolved.json"))
