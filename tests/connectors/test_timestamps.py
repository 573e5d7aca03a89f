"""Every timestamp of every connector goes through the SDK's one parser (nps_bot.plugin.payloads.parse_time):
unix seconds or milliseconds, ISO 8601 with or without a zone. Intercom API 2.x webhook items carry
`statistics.*_at` as ISO strings; a 2.x `conversation.admin.closed` must schedule, not 400."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.chatwoot import ChatwootConnector, ChatwootSettings
from integrations.freshdesk import FreshdeskConnector, FreshdeskSettings
from integrations.generic import GenericConnector, GenericSettings
from integrations.helpscout import HelpScoutConnector, HelpScoutSettings
from integrations.intercom import IntercomConnector, IntercomSettings
from integrations.liveagent import LiveAgentConnector, LiveAgentSettings
from integrations.zendesk import ZendeskConnector, ZendeskSettings
from nps_bot.plugin.payloads import parse_time
from tests.conftest import Live, generic_event
from tests.connectors import helpers as h
from tests.db_helpers import survey_rows as rows

CLOSE = datetime(2026, 11, 20, 9, 55, tzinfo=UTC)

FORMS = {
    "unix-seconds": 1795168500,
    "unix-seconds-text": "1795168500",
    "unix-milliseconds": 1795168500000,
    "iso-z-millis": "2026-11-20T09:55:00.000Z",
    "iso-offset": "2026-11-20T11:55:00+02:00",
    "iso-no-zone": "2026-11-20T09:55:00",
    "space-no-zone": "2026-11-20 09:55:00",
}


@pytest.mark.parametrize("value", FORMS.values(), ids=FORMS.keys())
def test_the_shared_parser_reads_every_form(value: Any) -> None:
    assert parse_time(value) == CLOSE
    assert parse_time(value).tzinfo is UTC  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [None, "", "  ", "{{ticket.updated_at}}", "yesterday", 0, True])
def test_no_time_is_none_not_an_error(value: Any) -> None:
    assert parse_time(value) is None


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[last] = value
    return body


# connector, fixture body, the dotted path of its close time, headers
VENDORS: dict[str, tuple[Callable[[], Any], Callable[[], dict[str, Any]], str, Callable[[bytes], dict[str, str]]]] = {
    "zendesk-trigger": (
        lambda: ZendeskConnector(ZendeskSettings(subdomain="acme")),
        lambda: h.fixture("zendesk", "trigger_solved.json"),
        "ticket.updated_at",
        h.zendesk_headers,
    ),
    "zendesk-event": (
        lambda: ZendeskConnector(ZendeskSettings(subdomain="acme")),
        lambda: h.fixture("zendesk", "event_status_changed_solved.json"),
        "time",
        h.zendesk_headers,
    ),
    "freshdesk": (
        lambda: FreshdeskConnector(FreshdeskSettings(domain="acme")),
        lambda: h.fixture("freshdesk", "rule_resolved.json"),
        "ticket.updated_at",
        h.freshdesk_headers,
    ),
    "helpscout": (
        lambda: HelpScoutConnector(HelpScoutSettings()),
        lambda: h.fixture("helpscout", "convo_status_closed.json"),
        "closedAt",
        h.helpscout_headers,
    ),
    "intercom": (
        lambda: IntercomConnector(IntercomSettings()),
        lambda: h.fixture("intercom", "conversation_admin_closed.json"),
        "data.item.statistics.last_close_at",
        h.intercom_headers,
    ),
    "chatwoot": (
        lambda: ChatwootConnector(ChatwootSettings(base_url="chat.acme.example")),
        lambda: h.fixture("chatwoot", "status_changed_resolved.json"),
        "updated_at",
        h.chatwoot_headers,
    ),
    "liveagent": (
        lambda: LiveAgentConnector(LiveAgentSettings()),
        lambda: h.fixture("liveagent", "rule_resolved.json"),
        "changed_at",
        lambda raw: {"content-type": "application/json"},
    ),
    "generic": (
        lambda: GenericConnector(GenericSettings()),
        lambda: generic_event(1),
        "ticket.closed_at",
        h.generic_headers,
    ),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize("vendor", VENDORS, ids=VENDORS.keys())
def test_every_connector_dates_the_close_from_any_form(vendor: str, form: Any) -> None:
    make, body, path, headers = VENDORS[vendor]
    raw = h.raw_of(_set(body(), path, form))
    parsed = make().parse(h.request(raw, headers(raw)))
    [interaction] = parsed.interactions
    assert interaction.closed_at == CLOSE


def intercom_2x_item() -> dict[str, Any]:
    """The 2.x shape of a real capture: every statistics.*_at (and the item's own times) as ISO 8601."""
    body = h.fixture("intercom", "conversation_admin_closed.json")
    item = body["data"]["item"]
    stats = item["statistics"]
    for key in [k for k in stats if k.endswith("_at")]:
        stats[key] = datetime.fromtimestamp(stats[key], tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    item["created_at"] = "2026-11-18T08:12:40.000Z"
    item["updated_at"] = "2026-11-20T09:55:00.000Z"
    for part in item["conversation_parts"]["conversation_parts"]:
        part["created_at"] = "2026-11-20T09:54:31.000Z"
    return body


def test_intercom_2x_close_with_iso_statistics_is_parsed() -> None:
    raw = h.raw_of(intercom_2x_item())
    connector = IntercomConnector(IntercomSettings(client_secret=[h.INTERCOM_SECRET]))
    interaction = h.parse_one(connector, h.request(raw, h.intercom_headers(raw)))
    assert (interaction.event, interaction.closed_at) == ("closed", CLOSE)


def test_intercom_2x_close_with_iso_statistics_schedules_over_http(make_live: Callable[..., Live]) -> None:
    live = make_live(env=h.INTERCOM_ENV)
    response = h.post_intercom(live, intercom_2x_item())
    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert row.closed_at.replace(tzinfo=UTC) == CLOSE
