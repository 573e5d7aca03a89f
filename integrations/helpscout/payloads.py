"""The Help Scout webhook body: the conversation object, in the v2 shape every webhook uses by default
(https://developer.helpscout.com/webhooks/ → "v2 Conversation object", the same object as
GET /v2/conversations/{id}), and the deprecated v1 shape (owner, customer, firstName...) that a
webhook still set to the v1 payload sends. Both parse into the same model.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from nps_bot.plugin.payloads import LooseModel, NamedRef, blank_to_none

EVENT_HEADER = "x-helpscout-event"
TEST_EVENT = "helpscout.test"
STATUS_EVENT = "convo.status"
CUSTOMER_REPLY_EVENT = "convo.customer.reply.created"
ACTIVE_STATUSES = frozenset({"active", "pending", "open"})


class Person(LooseModel):
    """A user or customer: v2 `first`/`last`, v1 `firstName`/`lastName`."""

    id: str | None = None
    type: str | None = None
    first: str | None = None
    last: str | None = None
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    email: str | None = None

    _blanks = field_validator("first", "last", "first_name", "last_name", "email", mode="before")(blank_to_none)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first or self.first_name, self.last or self.last_name) if p]
        return " ".join(parts) or None


class Tag(LooseModel):
    tag: str | None = None
    name: str | None = None


class CustomField(LooseModel):
    id: str | None = None
    field_id: str | None = Field(None, alias="fieldId")
    name: str | None = None
    value: str | None = None
    # v2 `text`, v1 `label`: the option label of a dropdown (whose `value` is the option id).
    text: str | None = None
    label: str | None = None

    @property
    def shown(self) -> str | None:
        return next((v for v in (self.text, self.label) if v not in (None, "")), self.value)

    @property
    def option_id(self) -> str | None:
        """A value that is a dropdown option id with no label beside it (named at delivery)."""
        unlabelled = self.text in (None, "") and self.label in (None, "")
        return self.value if unlabelled and self.value and self.value.isdigit() else None


class Source(LooseModel):
    type: str | None = None
    via: str | None = None


class Thread(LooseModel):
    id: str | None = None
    type: str | None = None
    state: str | None = None
    created_at: str | None = Field(None, alias="createdAt")
    created_by: Person | None = Field(None, alias="createdBy")


Mailbox = NamedRef


class Link(LooseModel):
    href: str | None = None


class Conversation(LooseModel):
    id: str
    number: str | None = None
    type: str | None = None
    status: str | None = None
    state: str | None = None
    subject: str | None = None
    mailbox_id: str | None = Field(None, alias="mailboxId")
    mailbox: Mailbox | None = None  # v1
    assignee: Person | None = None
    owner: Person | None = None  # v1
    primary_customer: Person | None = Field(None, alias="primaryCustomer")
    customer: Person | None = None  # v1
    created_by: Person | None = Field(None, alias="createdBy")
    # v2: the closing user's id, with details in closedByUser; v1: the closing user itself.
    closed_by: str | Person | None = Field(None, alias="closedBy")
    closed_by_user: Person | None = Field(None, alias="closedByUser")
    closed_at: str | None = Field(None, alias="closedAt")
    user_updated_at: str | None = Field(None, alias="userUpdatedAt")
    modified_at: str | None = Field(None, alias="modifiedAt")  # v1
    source: Source | None = None
    tags: list[Tag | str] = Field(default_factory=list)
    custom_fields: list[CustomField] = Field(default_factory=list, alias="customFields")
    embedded: dict[str, Any] = Field(default_factory=dict, alias="_embedded")
    links: dict[str, Link] = Field(default_factory=dict, alias="_links")
    # v2: the number of threads; v1: the threads themselves.
    threads: Any = None

    @field_validator("tags", "custom_fields", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    def tag_names(self) -> list[str]:
        names = []
        for tag in self.tags:
            text = tag if isinstance(tag, str) else tag.tag or tag.name
            if text:
                names.append(text)
        return names

    def thread_list(self) -> list[Thread]:
        raw = self.embedded.get("threads") if isinstance(self.embedded, dict) else None
        if raw is None and isinstance(self.threads, list):
            raw = self.threads
        if not isinstance(raw, list):
            return []
        return [Thread.model_validate(t) for t in raw if isinstance(t, dict)]
