"""The two request bodies Zendesk can send us, and how each becomes an Interaction.

1. Trigger webhook ("Notify active webhook"): the admin writes the JSON body with Zendesk
   placeholders, so its shape is ours (manifests/zendesk/trigger-body.json). Placeholders that do not
   apply render as "" and are treated as missing.
2. Event-subscription webhook (zen:event-type:ticket.status_changed): Zendesk's fixed event envelope
   (https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/). It carries ids
   only (requester_id, assignee_id, group_id), no names or e-mail addresses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field

EVENT_TYPE_PREFIX = "zen:event-type:"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"

# Words the trigger body's "event" may carry (we put a literal there, so localised status names
# never matter); without "event", the rendered {{ticket.status}} decides.
CLOSE_WORDS = frozenset({"solved", "closed", "resolved", "ticket.solved", "ticket.closed"})
REOPEN_WORDS = frozenset({"reopened", "re-opened", "ticket.reopened"})
ACTIVE_STATUSES = frozenset({"new", "open", "pending", "hold", "on-hold"})

_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def clean(value: Any) -> Any:
    """Strip strings; "" and unrendered placeholders ("{{...}}", "{%...%}") become None."""
    if isinstance(value, str):
        text = value.strip()
        if not text or "{{" in text or "{%" in text:
            return None
        return text
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [item for item in (clean(v) for v in value) if item is not None]
    return value


def channel_name(value: str | None) -> str | None:
    """ "Web Form" ({{ticket.via}}) and "web_form" (via.channel) both become "web_form"."""
    if not value:
        return None
    return "_".join(value.lower().split())[:64] or None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cache
def _language_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code, name in Locale("en").languages.items():
        if "_" not in code:
            names.setdefault(name.lower(), code)
    return names


def language_code(*candidates: str | None) -> str | None:
    """A language tag from a locale ("lt", "en-US") or a language name ("Lithuanian")."""
    for value in candidates:
        if not value:
            continue
        if _LANG_TAG.match(value):
            return value[:35]
        name = value.split("(")[0].strip().lower()
        code = _language_names().get(name)
        if code:
            return code
    return None


# -- 1. trigger body (ours) ---------------------------------------------------------------------


class TriggerTicket(_Loose):
    id: str
    status: str | None = None
    subject: str | None = None
    url: str | None = None
    channel: str | None = None
    group: str | None = None
    brand: str | None = None
    tags: str | list[str] | None = None
    updated_at: str | None = None


class TriggerPerson(_Loose):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    locale: str | None = None
    language: str | None = None
    external_id: str | None = None


class TriggerBody(_Loose):
    event: str | None = None
    ticket: TriggerTicket
    requester: TriggerPerson | None = None
    assignee: TriggerPerson | None = None
    current_user: TriggerPerson | None = None
    organization: str | None = None
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


# -- 2. event-subscription envelope (Zendesk's) -----------------------------------------------------


class EventVia(_Loose):
    channel: str | None = None


class EventDetail(_Loose):
    id: str
    subject: str | None = None
    status: str | None = None
    requester_id: str | None = None
    assignee_id: str | None = None
    group_id: str | None = None
    actor_id: str | None = None
    brand_id: str | None = None
    organization_id: str | None = None
    form_id: str | None = None
    priority: str | None = None
    type: str | None = None
    tags: list[str] | None = None
    via: EventVia | None = None
    updated_at: str | None = None


class StatusChange(_Loose):
    current: str | None = None
    previous: str | None = None


class EventEnvelope(_Loose):
    type: str
    id: str
    time: str | None = None
    account_id: str | None = None
    subject: str | None = None
    zendesk_event_version: str | None = None
    detail: EventDetail
    event: StatusChange | None = None
