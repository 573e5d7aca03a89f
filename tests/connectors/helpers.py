"""Shared by the connector tests: fixtures, settings, vendor signatures, request builders and vendor API mocks.

Test modules import from here (never from each other). `request()` builds the WebhookRequest a connector
sees; `post()` sends the same bytes and headers to the real app over HTTP (end-to-end tests only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from integrations.chatwoot.connector import compute_signature
from nps_bot.models import Interaction
from nps_bot.plugin import signing
from nps_bot.plugin.ports import BadPayload, WebhookRequest
from tests.conftest import GENERIC_SECRET, Live

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # the `clock` fixture's start


def fixture(vendor: str, name: str) -> Any:
    return json.loads((FIXTURES / vendor / name).read_text())


def raw_of(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


def request(
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    query: Mapping[str, str] | None = None,
    at: datetime = NOW,
) -> WebhookRequest:
    """The WebhookRequest the web layer would hand a connector (header names lower-cased)."""
    return WebhookRequest(
        body=raw_of(body),
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=dict(query or {}),
        received_at=at,
    )


def fields(interaction: Interaction, *paths: str) -> dict[str, Any]:
    """Dotted attribute paths of an interaction, e.g. "customer.email"; "credited.<role>" = credited_agent(role),
    "customer_key" = the throttling key the core derives from the customer."""
    out: dict[str, Any] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if path == "customer_key":
            out[path] = interaction.customer.key(interaction.connector)
            continue
        if head == "credited":
            role, _, attr = rest.partition(".")
            value: Any = interaction.credited_agent(role)
            value = getattr(value, attr) if value is not None and attr else value
        else:
            value = interaction
            for part in path.split("."):
                value = None if value is None else getattr(value, part)
        out[path] = value
    return out


def check(interaction: Interaction, expected: Mapping[str, Any]) -> None:
    assert fields(interaction, *expected) == dict(expected)


# -- signatures, as each vendor signs --------------------------------------------------------------


def zendesk_signature(secret: str, timestamp: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()).decode()


def helpscout_signature(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha1).digest()).decode()


def hub_signature(secret: str, raw: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


# -- per vendor: secrets, settings (as environment), signed headers ---------------------------------

ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
ZENDESK_ENV = {
    "NPS_BOT_ZENDESK_SIGNING_SECRET": ZENDESK_SECRET,
    "NPS_BOT_ZENDESK_SUBDOMAIN": "acme",
    "NPS_BOT_ZENDESK_EMAIL": "nps-bot@acme.example",
    "NPS_BOT_ZENDESK_API_TOKEN": "zd-api-token",
}
FRESHDESK_SECRET = "fd-shared-secret-4f1c9a"
FRESHDESK_ENV = {
    "NPS_BOT_FRESHDESK_SECRET": FRESHDESK_SECRET,
    "NPS_BOT_FRESHDESK_DOMAIN": "acme",
    "NPS_BOT_FRESHDESK_API_KEY": "fd-api-key",
}
HELPSCOUT_SECRET = "hs-webhook-secret-0123456789abcdef"  # Help Scout allows at most 40 characters
HELPSCOUT_ENV = {
    "NPS_BOT_HELPSCOUT_SECRET": HELPSCOUT_SECRET,
    "NPS_BOT_HELPSCOUT_APP_ID": "hs-app-id",
    "NPS_BOT_HELPSCOUT_APP_SECRET": "hs-app-secret",
    "NPS_BOT_HELPSCOUT_MAILBOXES": "85=Billing,86=Sales",
}
INTERCOM_SECRET = "ic-client-secret-5f0c3a9e"
INTERCOM_ENV = {
    "NPS_BOT_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
    "NPS_BOT_INTERCOM_ACCESS_TOKEN": "ic-access-token",
    "NPS_BOT_INTERCOM_ADMIN_ID": "5017690",
    "NPS_BOT_INTERCOM_TEAMS": "5017691=Billing",
    "NPS_BOT_INTERCOM_ATTRIBUTES": "Plan,external_id",
}
CHATWOOT_SECRET = "cw-webhook-secret-7d2e"
CHATWOOT_TOKEN = "cw-shared-token-91ab"
CHATWOOT_ENV = {
    "NPS_BOT_CHATWOOT_SECRET": CHATWOOT_SECRET,
    "NPS_BOT_CHATWOOT_BASE_URL": "https://chat.acme.example",
    "NPS_BOT_CHATWOOT_API_TOKEN": "cw-api-token",
}
LIVEAGENT_SECRET = "la-rule-token-3f9c"
LIVEAGENT_BASE = "https://acme.ladesk.com"
LIVEAGENT_ENV = {
    "NPS_BOT_LIVEAGENT_SECRET": f"old-token,{LIVEAGENT_SECRET}",
    "NPS_BOT_LIVEAGENT_URL": LIVEAGENT_BASE + "/",
    "NPS_BOT_LIVEAGENT_API_KEY": "la-api-key",
    "NPS_BOT_LIVEAGENT_USERIDENTIFIER": "surveys@acme.example",
}
NICEREPLY_SECRET = "nr-relay-token-81a2"
NICEREPLY_KEY = "0123456789abcdef0123456789abcdef01234567"
NICEREPLY_ENV = {
    "NPS_BOT_NICEREPLY_SECRET": NICEREPLY_SECRET,
    "NPS_BOT_NICEREPLY_PRIVATE_KEY": NICEREPLY_KEY,
    "NPS_BOT_NICEREPLY_CSAT_SCALE": "3",
}


def zendesk_headers(
    raw: bytes,
    *,
    secret: str = ZENDESK_SECRET,
    at: datetime = NOW,
    invocation: str | None = "8350205582",
    signature: str | None = None,
) -> dict[str, str]:
    """As Zendesk sends: ISO 8601 timestamp header, base64 HMAC-SHA256 over timestamp + raw body."""
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
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
    return headers


def freshdesk_headers(raw: bytes, *, token: str | None = FRESHDESK_SECRET) -> dict[str, str]:
    """As the rule's "Trigger webhook" action sends, with our secret in a custom header."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-nps-token"] = token
    return headers


def helpscout_headers(
    raw: bytes, *, event: str | None = "convo.status", secret: str = HELPSCOUT_SECRET, signature: str | None = None
) -> dict[str, str]:
    """As Help Scout sends: the event in X-HelpScout-Event, base64 HMAC-SHA1 of the raw body."""
    headers = {
        "content-type": "application/json",
        "x-helpscout-signature": signature or helpscout_signature(secret, raw),
    }
    if event:
        headers["x-helpscout-event"] = event
    return headers


def intercom_headers(raw: bytes, *, secret: str = INTERCOM_SECRET, signature: str | None = None) -> dict[str, str]:
    """As Intercom sends: X-Hub-Signature = sha1=<hex HMAC-SHA1(client secret, raw body)>."""
    return {
        "content-type": "application/json",
        "user-agent": "intercom-parrot-service-client/1.0",
        "x-hub-signature": signature or hub_signature(secret, raw),
    }


def chatwoot_headers(
    raw: bytes,
    *,
    secret: str | None = CHATWOOT_SECRET,
    at: datetime = NOW,
    timestamp: str | None = None,
    signature: str | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    """As a Chatwoot webhook that has a secret sends (secret=None: unsigned, as older installs)."""
    headers = {"content-type": "application/json"}
    if secret is not None or signature is not None:
        ts = timestamp or str(int(at.timestamp()))
        headers["x-chatwoot-timestamp"] = ts
        headers["x-chatwoot-signature"] = signature or compute_signature(secret or "", ts, raw)
    if delivery:
        headers["x-chatwoot-delivery"] = delivery
    return headers


def generic_headers(raw: bytes, *, secret: str = GENERIC_SECRET, at: datetime = NOW) -> dict[str, str]:
    return {signing.HEADER: signing.sign(secret, raw, int(at.timestamp())), "content-type": "application/json"}


# -- over HTTP (end-to-end tests) -------------------------------------------------------------------


def post(live: Live, connector: str, body: Any, headers: Mapping[str, str], query: str = "") -> httpx.Response:
    return live.http.post(f"/webhooks/{connector}{query}", content=raw_of(body), headers=dict(headers))


def post_zendesk(live: Live, body: Any, **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "zendesk", raw, zendesk_headers(raw, at=kwargs.pop("at", live.clock.now()), **kwargs))


def post_freshdesk(live: Live, body: Any, **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "freshdesk", raw, freshdesk_headers(raw, **kwargs))


def post_helpscout(live: Live, body: Any, **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "helpscout", raw, helpscout_headers(raw, **kwargs))


def post_intercom(live: Live, body: Any, **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "intercom", raw, intercom_headers(raw, **kwargs))


def post_chatwoot(live: Live, body: Any, *, query: str = "", **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "chatwoot", raw, chatwoot_headers(raw, at=kwargs.pop("at", live.clock.now()), **kwargs), query)


def post_liveagent(
    live: Live, body: Any, *, token: str | None = LIVEAGENT_SECRET, headers: dict[str, str] | None = None
) -> httpx.Response:
    query = f"?token={token}" if token is not None else ""
    return post(live, "liveagent", body, {"content-type": "application/json", **(headers or {})}, query)


def post_nicereply(live: Live, body: Any, *, token: str | None = NICEREPLY_SECRET, query: str = "") -> httpx.Response:
    params = "&".join(p for p in ((f"token={token}" if token is not None else ""), query) if p)
    return post(live, "nicereply", body, {"content-type": "application/json"}, f"?{params}" if params else "")


def post_generic(live: Live, body: Any, **kwargs: Any) -> httpx.Response:
    raw = raw_of(body)
    return post(live, "generic", raw, generic_headers(raw, at=kwargs.pop("at", live.clock.now()), **kwargs))


# -- vendor API mocks (reply-back) -----------------------------------------------------------------

ZENDESK_TICKET_URL = "https://acme.zendesk.com/api/v2/tickets/35436.json"
FRESHDESK_TICKET_URL = "https://acme.freshdesk.com/api/v2/tickets/4821"
HELPSCOUT_API = "https://api.helpscout.net/v2"
HELPSCOUT_CONVO_URL = f"{HELPSCOUT_API}/conversations/2391938111"
INTERCOM_CONVO_URL = "https://api.intercom.io/conversations/137324500000123"
CHATWOOT_MESSAGES_URL = "https://chat.acme.example/api/v1/accounts/3/conversations/10/messages"
LIVEAGENT_MESSAGES_URL = f"{LIVEAGENT_BASE}/api/conversations/a9f3c2d1/messages"
LIVEAGENT_TICKET_URL = f"{LIVEAGENT_BASE}/api/v3/tickets/a9f3c2d1"


def mock_zendesk(router: respx.Router, *, status: str = "solved") -> tuple[respx.Route, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    show = fixture("zendesk", "api_ticket_show.json")
    show["ticket"]["status"] = status
    get = router.get(ZENDESK_TICKET_URL).mock(return_value=httpx.Response(200, json=show))
    update = fixture("zendesk", "api_ticket_update.json")
    put = router.put(ZENDESK_TICKET_URL).mock(return_value=httpx.Response(200, json=update))
    return get, put


def mock_freshdesk(router: respx.Router, *, statuses: tuple[int, ...] = (4, 4)) -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    tickets = []
    for status in statuses:
        ticket = fixture("freshdesk", "api_ticket.json")
        ticket["status"] = status
        tickets.append(httpx.Response(200, json=ticket))
    reply = httpx.Response(201, json=fixture("freshdesk", "api_reply.json"))
    return {
        "get": router.get(FRESHDESK_TICKET_URL).mock(side_effect=tickets),
        "reply": router.post(f"{FRESHDESK_TICKET_URL}/reply").mock(return_value=reply),
        "put": router.put(FRESHDESK_TICKET_URL).mock(
            return_value=httpx.Response(200, json=fixture("freshdesk", "api_ticket.json"))
        ),
    }


def mock_helpscout(router: respx.Router, *, status: str = "closed") -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    conversation = fixture("helpscout", "api_conversation.json")
    conversation["status"] = status
    token = httpx.Response(200, json=fixture("helpscout", "api_token.json"))
    return {
        "token": router.post(f"{HELPSCOUT_API}/oauth2/token").mock(return_value=token),
        "get": router.get(HELPSCOUT_CONVO_URL).mock(return_value=httpx.Response(200, json=conversation)),
        "reply": router.post(f"{HELPSCOUT_CONVO_URL}/reply").mock(
            return_value=httpx.Response(201, headers={"Resource-ID": "88171890"})
        ),
    }


def mock_intercom(
    router: respx.Router, *, state: str = "closed", reply_state: str = "closed"
) -> dict[str, respx.Route]:
    router.route(host="127.0.0.1").pass_through()
    conversation = fixture("intercom", "api_conversation.json") | {"state": state, "open": state == "open"}
    reply = fixture("intercom", "api_reply.json") | {"state": reply_state, "open": reply_state == "open"}
    closed = fixture("intercom", "api_reply.json") | {"state": "closed", "open": False}
    return {
        "get": router.get(INTERCOM_CONVO_URL).mock(return_value=httpx.Response(200, json=conversation)),
        "reply": router.post(f"{INTERCOM_CONVO_URL}/reply").mock(return_value=httpx.Response(200, json=reply)),
        "close": router.post(f"{INTERCOM_CONVO_URL}/parts").mock(return_value=httpx.Response(200, json=closed)),
    }


def mock_chatwoot(router: respx.Router) -> respx.Route:
    router.route(host="127.0.0.1").pass_through()
    created = httpx.Response(200, json=fixture("chatwoot", "api_message_created.json"))
    return router.post(CHATWOOT_MESSAGES_URL).mock(return_value=created)


def mock_liveagent(router: respx.Router) -> respx.Route:
    router.route(host="127.0.0.1").pass_through()
    router.put(LIVEAGENT_TICKET_URL).respond(200, json={"id": "a9f3c2d1", "status": "R"})
    message = httpx.Response(200, json=fixture("liveagent", "message_response.json"))
    return router.post(LIVEAGENT_MESSAGES_URL).mock(return_value=message)


DELETE = object()  # in `load(..., changes)`: remove the key


def load(vendor: str, name: str, changes: Mapping[str, Any] | None = None) -> Any:
    """A fixture with dotted-path changes applied, e.g. {"requester.locale": "", "event": DELETE}."""
    data = fixture(vendor, name)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return data


def parse_one(connector: Any, req: WebhookRequest) -> Interaction:
    """verify + parse, as the web layer does; the request must mean exactly one interaction."""
    connector.verify(req)
    parsed = connector.parse(req)
    assert parsed.ignored is None, parsed.ignored
    [interaction] = parsed.interactions
    return interaction


def bad_payload_reason(connector: Any, req: WebhookRequest) -> str:
    """The reason `parse` refuses a request that `verify` accepts (authentic, but malformed)."""
    connector.verify(req)
    with pytest.raises(BadPayload) as exc:
        connector.parse(req)
    return exc.value.reason


def parse_ignored(connector: Any, req: WebhookRequest) -> str:
    """verify + parse of a request the connector must ignore (202); returns the reason."""
    connector.verify(req)
    parsed = connector.parse(req)
    assert parsed.interactions == ()
    assert parsed.ignored
    return parsed.ignored
