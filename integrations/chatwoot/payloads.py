"""Chatwoot's webhook body for conversation events: the conversation's `webhook_data` flattened at the
top level plus "event" (https://github.com/chatwoot/docs docs/product/others/webhook-events.md,
"conversation_status_changed"). Chatwoot fixes this shape; the admin only picks the events.

Newer Chatwoot versions add `changed_attributes` ([{"status": {"previous_value", "current_value"}}]),
`labels`, `custom_attributes`, `meta.team` and `account_id`; all are optional here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nps_bot.plugin.payloads import LooseModel, NamedRef, Timestamp, TypedPerson

STATUS_CHANGED = "conversation_status_changed"
# Deprecated in favour of conversation_status_changed, still listed with samples in chatwoot/docs.
LEGACY_RESOLVED = "conversation_resolved"
LEGACY_OPENED = "conversation_opened"
# Statuses a resolved conversation can go back to: "open", or "pending" when a bot inbox takes the
# customer's new message (Message#reopen_resolved_conversation), or "snoozed".
ACTIVE_STATUSES = frozenset({"open", "pending", "snoozed"})


class Person(TypedPerson):
    """The contact (`meta.sender`) or the agent (`meta.assignee`); `identifier` is the contact's id in the
    company's own system, set through Chatwoot's SDK or API."""

    identifier: str | None = None
    additional_attributes: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


Team = NamedRef


class Meta(LooseModel):
    sender: Person | None = None
    assignee: Person | None = None
    team: Team | None = None


Account = NamedRef


class Message(LooseModel):
    id: str | None = None
    account_id: str | None = None
    message_type: str | None = None


class Conversation(LooseModel):
    event: str
    id: str = Field(min_length=1)
    status: str | None = None
    channel: str | None = None
    inbox_id: str | None = None
    account_id: str | None = None
    account: Account | None = None
    meta: Meta = Field(default_factory=Meta)
    labels: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    additional_attributes: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    changed_attributes: list[dict[str, Any]] | dict[str, Any] | None = None
    timestamp: Timestamp = None
    # Unix seconds as a float in newer versions (ISO 8601 in some); when the status changed.
    updated_at: Timestamp = None

    @property
    def account_ref(self) -> str | None:
        if self.account and self.account.id:
            return self.account.id
        if self.account_id:
            return self.account_id
        return next((m.account_id for m in self.messages if m.account_id), None)

    @property
    def previous_status(self) -> str | None:
        changes = self.changed_attributes
        items = changes if isinstance(changes, list) else [changes] if isinstance(changes, dict) else []
        for item in items:
            status = item.get("status") if isinstance(item, dict) else None
            if isinstance(status, dict) and status.get("previous_value") is not None:
                return str(status["previous_value"]).lower()
        return None


def channel_name(value: str | None) -> str | None:
    """ "Channel::WebWidget" -> "web_widget", "Channel::Email" -> "email"."""
    if not value:
        return None
    word = value.split("::")[-1]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in word).lstrip("_")
    return snake[:64] or None
