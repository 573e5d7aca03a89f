"""The automation rule's "Trigger webhook" body. Freshdesk lets the admin write it with
placeholders, so its shape is ours (manifests/freshdesk/webhook-body.json). Placeholders that do not
apply render as "" and are treated as missing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Default Freshdesk statuses (API v2 numbering); {{ticket.status}} renders the name.
STATUS_NAMES = {"2": "open", "3": "pending", "4": "resolved", "5": "closed"}
CLOSED_STATUS_CODES = frozenset({4, 5})
CLOSE_WORDS = frozenset({"resolved", "closed", "solved", "ticket.resolved", "ticket.closed"})
REOPEN_WORDS = frozenset({"reopened", "re-opened", "ticket.reopened"})
# Ticket "source" codes from the API v2 docs, for bodies that send the number.
SOURCES = {"1": "email", "2": "portal", "3": "phone", "7": "chat", "9": "feedback_widget", "10": "outbound_email"}


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def status_name(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return STATUS_NAMES.get(text, text)


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
