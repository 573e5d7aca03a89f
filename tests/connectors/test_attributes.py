"""Customer attributes become survey segments only when an admin lists them (NPS_BOT_<VENDOR>_ATTRIBUTES,
shared helper nps_bot.plugin.payloads.pick_attributes). Intercom API 2.x items carry Intercom's own
attributes ("Has attachments", "Copilot used", "Fin AI Agent: Preview"...), so Intercom keeps only the
contact's external_id unless told otherwise; the others keep every attribute the admin's body or custom
fields carry ("*") unless a list is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from integrations.chatwoot import ChatwootConnector, ChatwootSettings
from integrations.freshdesk import FreshdeskConnector, FreshdeskSettings
from integrations.generic import GenericConnector, GenericSettings
from integrations.helpscout import HelpScoutConnector, HelpScoutSettings
from integrations.intercom import IntercomConnector, IntercomSettings
from integrations.liveagent import LiveAgentConnector, LiveAgentSettings
from integrations.nicereply.payloads import parse_rating
from integrations.zendesk import ZendeskConnector, ZendeskSettings
from nps_bot.plugin.payloads import pick_attributes
from tests.conftest import generic_event
from tests.connectors import helpers as h

SYSTEM = {"Has attachments": False, "Copilot used": False, "Fin AI Agent: Preview": False}


def test_pick_attributes_keeps_listed_names_without_case() -> None:
    values = {"Plan": "pro", "Region": "EU", "empty": "", "none": None, "obj": {"a": 1}, **SYSTEM}
    assert pick_attributes(values, ["plan", "REGION"]) == {"Plan": "pro", "Region": "EU"}
    assert pick_attributes(values, ["*"]) == {"Plan": "pro", "Region": "EU", **SYSTEM}
    assert pick_attributes(values, []) == {}


def _intercom_body() -> dict[str, Any]:
    body = h.fixture("intercom", "conversation_admin_closed.json")
    body["data"]["item"]["custom_attributes"].update(SYSTEM)
    return body


def test_intercom_2x_system_attributes_are_not_segments_by_default() -> None:
    raw = h.raw_of(_intercom_body())
    [interaction] = IntercomConnector(IntercomSettings()).parse(h.request(raw, h.intercom_headers(raw))).interactions
    assert interaction.customer.attributes == {"external_id": "cust-4821"}
    assert interaction.customer.language == "lt"  # the language attribute is still read


# connector with attributes=["plan"], body, headers, what stays
CASES: dict[str, tuple[Callable[[list[str]], Any], Callable[[], Any], Callable[[bytes], dict[str, str]], dict]] = {
    "zendesk": (
        lambda a: ZendeskConnector(ZendeskSettings(subdomain="acme", attributes=a)),
        lambda: h.fixture("zendesk", "trigger_solved.json"),
        h.zendesk_headers,
        {"plan": "pro"},
    ),
    "freshdesk": (
        lambda a: FreshdeskConnector(FreshdeskSettings(domain="acme", attributes=a)),
        lambda: h.fixture("freshdesk", "rule_resolved.json"),
        h.freshdesk_headers,
        {"plan": "pro"},
    ),
    "helpscout": (
        lambda a: HelpScoutConnector(HelpScoutSettings(attributes=a)),
        lambda: h.fixture("helpscout", "convo_status_closed.json"),
        h.helpscout_headers,
        {"Plan": "Pro"},
    ),
    "intercom": (
        lambda a: IntercomConnector(IntercomSettings(attributes=a)),
        _intercom_body,
        h.intercom_headers,
        {"Plan": "pro"},
    ),
    "chatwoot": (
        lambda a: ChatwootConnector(ChatwootSettings(base_url="chat.acme.example", attributes=a)),
        lambda: h.fixture("chatwoot", "status_changed_resolved.json"),
        h.chatwoot_headers,
        {"plan": "pro"},
    ),
    "liveagent": (
        lambda a: LiveAgentConnector(LiveAgentSettings(attributes=a)),
        lambda: h.load("liveagent", "rule_resolved.json", {"custom_fields": {"plan": "pro", "Has attachments": "0"}}),
        lambda raw: {"content-type": "application/json"},
        {"plan": "pro"},
    ),
    "generic": (
        lambda a: GenericConnector(GenericSettings(attributes=a)),
        lambda: generic_event(1),
        h.generic_headers,
        {"plan": "pro"},
    ),
}


@pytest.mark.parametrize("vendor", CASES, ids=CASES.keys())
def test_only_the_listed_attributes_are_kept(vendor: str) -> None:
    make, body, headers, kept = CASES[vendor]
    raw = h.raw_of(body())
    [interaction] = make(["plan"]).parse(h.request(raw, headers(raw))).interactions
    assert interaction.customer.attributes == kept


def test_nicereply_attributes_follow_the_list_too() -> None:
    rating = h.fixture("nicereply", "rating_nps.json")
    assert parse_rating(rating, attributes=["*"]).interaction.customer.attributes != {}
    assert parse_rating(rating, attributes=["plan"]).interaction.customer.attributes == {}
