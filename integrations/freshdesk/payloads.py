"""The automation rule's "Trigger webhook" body. Freshdesk lets the admin write it with
placeholders, so its shape is ours (manifests/freshdesk/webhook-body.json). Placeholders that do not
apply render as "" and are treated as missing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field

# Default Freshdesk statuses (API v2 numbering); {{ticket.status}} renders the name.
STATUS_NAMES = {"2": "open", "3": "pending", "4": "resolved", "5": "closed"}
CLOSED_STATUS_CODES = frozenset({4, 5})
CLOSE_WORDS = frozenset({"resolved", "closed", "solved", "ticket.resolved", "ticket.closed"})
REOPEN_WORDS = frozenset({"reopened", "re-opened", "ticket.reopened"})
# Ticket "source" codes from the API v2 docs, for bodies that send the number.
SOURCES = {"1": "email", "2": "portal", "3": "phone", "7": "chat", "9": "feedback_widget", "10": "outbound_email"}

_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def clean(value: Any) -> Any:
    """Strip strings; "" and unrendered placeholders ("{{...}}") become None."""
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


def status_name(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return STATUS_NAMES.get(text, text)


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


def language_code(value: str | None) -> str | None:
    """A language tag ("lt", "pt-BR") or a language name ("Lithuanian")."""
    if not value:
        return None
    if _LANG_TAG.match(value):
        return value[:35]
    return _language_names().get(value.split("(")[0].strip().lower())


class Ticket(_Loose):
    id: str
    status: str | None = None
    subject: str | None = None
    url: str | None = None
    source: str | None = None
    group: str | None = None
    type: str | None = None
    priority: str | None = None
    tags: str | list[str] | None = None
    updated_at: str | None = None


class Contact(_Loose):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    language: str | None = None
    unique_external_id: str | None = None


class AgentBody(_Loose):
    id: str | None = None
    name: str | None = None
    email: str | None = None


class WebhookBody(_Loose):
    event: str | None = None
    ticket: Ticket
    contact: Contact | None = None
    agent: AgentBody | None = None
    company: str | None = None
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
