"""The Intercom webhook notification (https://developers.intercom.com/docs/webhooks/webhook-notifications):
an envelope `{"type": "notification_event", "topic", "id": "notif_...", "app_id", "data": {"item": ...}}`
whose item, for conversation topics, is the conversation in the shape of the app's API version:

- 2.x: `source` (with its `author`), `contacts.contacts[]` (ids only), `admin_assignee_id`,
  `team_assignee_id`, `tags.tags[]`, `custom_attributes`, `conversation_parts`, `statistics`;
- 1.x: `user` / `customers[]`, `assignee` (with name and e-mail), `conversation_message`.

Contacts usually come as ids, not e-mail addresses: the e-mail is known only when the conversation's
source author is the customer (or in the 1.x `user`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from nps_bot.plugin.payloads import LooseModel, NamedRef, Timestamp, TypedPerson, blank_to_none

PING = "ping"
CLOSED_TOPICS = frozenset({"conversation.admin.closed"})
OPENED_TOPICS = frozenset({"conversation.admin.opened"})
# A customer writing into a closed conversation opens it again; only counts when the item says "open".
USER_REPLIED = "conversation.user.replied"
CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})


class Author(TypedPerson):
    """An admin, a contact or a bot: `type` says which; Intercom renders missing values as "", not null."""

    _blanks = field_validator("id", "name", "email", mode="before")(blank_to_none)


class User(Author):
    """1.x `user` / `customers[]`, 2.x `contacts.contacts[]` (type, id, external_id)."""

    user_id: str | None = None
    external_id: str | None = None


class Message(LooseModel):
    """What one author wrote into the conversation: Intercom's `source` is its first message and shares
    the parts' fields; who wrote each one decides the agent roles and whether the customer replied."""

    id: str | None = None
    body: str | None = None
    author: Author | None = None


class Source(Message):
    type: str | None = None
    delivered_as: str | None = None
    subject: str | None = None


class Part(Message):
    part_type: str | None = None
    created_at: Timestamp = None


class Parts(LooseModel):
    conversation_parts: list[Part] = Field(default_factory=list)


Tag = NamedRef


class Tags(LooseModel):
    tags: list[Tag] = Field(default_factory=list)


class Contacts(LooseModel):
    contacts: list[User] = Field(default_factory=list)


class Statistics(LooseModel):
    # API 1.x and early 2.x: unix seconds; newer 2.x webhook items: ISO 8601 ("2026-01-10T07:56:29.000Z").
    last_close_at: Timestamp = None


class Conversation(LooseModel):
    type: str | None = None
    id: str
    title: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    state: str | None = None
    open: bool | None = None
    source: Source | None = None
    conversation_message: Source | None = None  # 1.x
    contacts: Contacts | list[User] | None = None
    user: User | None = None  # 1.x
    customers: list[User] = Field(default_factory=list)  # 1.x
    admin_assignee_id: str | None = None
    team_assignee_id: str | None = None
    assignee: Author | None = None  # 1.x (and some 2.x payloads)
    tags: Tags | None = None
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    conversation_parts: Parts | None = None
    statistics: Statistics | None = None
    links: dict[str, Any] = Field(default_factory=dict)

    @field_validator("customers", "custom_attributes", "links", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return [] if info.field_name == "customers" else {}
        return value

    @field_validator("admin_assignee_id", "team_assignee_id", mode="before")
    @classmethod
    def _zero_is_none(cls, value: Any) -> Any:
        return None if value in (0, "0", "") else value

    def contact_list(self) -> list[User]:
        if isinstance(self.contacts, Contacts):
            return self.contacts.contacts
        if isinstance(self.contacts, list):
            return self.contacts
        return []

    def parts(self) -> list[Part]:
        return self.conversation_parts.conversation_parts if self.conversation_parts else []


class NotificationData(LooseModel):
    item: dict[str, Any]


class Notification(LooseModel):
    type: str | None = None
    topic: str
    id: str
    app_id: str | None = None
    created_at: Timestamp = None
    data: NotificationData
