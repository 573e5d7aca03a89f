"""The automation rule's "Trigger webhook" body. Freshdesk lets the admin write it with
placeholders, so its shape is ours (manifests/freshdesk/webhook-body.json). Placeholders that do not
apply render as "" and are treated as missing."""

from __future__ import annotations

from nps_bot.plugin.payloads import PersonBody, TemplatedBody, TemplatedTicket

# Default Freshdesk statuses (API v2 numbering); {{ticket.status}} renders the name.
STATUS_NAMES = {"2": "open", "3": "pending", "4": "resolved", "5": "closed"}
CLOSE_WORDS = frozenset({"resolved", "closed", "solved", "ticket.resolved", "ticket.closed"})
CLOSED_STATUSES = frozenset({"resolved", "closed"})
# Ticket "source" codes from the API v2 docs, for bodies that send the number.
SOURCES = {"1": "email", "2": "portal", "3": "phone", "7": "chat", "9": "feedback_widget", "10": "outbound_email"}


def status_name(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return STATUS_NAMES.get(text, text)


class Ticket(TemplatedTicket):
    source: str | None = None
    type: str | None = None
    priority: str | None = None


class Contact(PersonBody):
    language: str | None = None
    unique_external_id: str | None = None


AgentBody = PersonBody


class WebhookBody(TemplatedBody):
    ticket: Ticket
    contact: Contact | None = None
    agent: AgentBody | None = None
    company: str | None = None
