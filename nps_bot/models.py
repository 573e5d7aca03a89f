"""What flows through the core: interactions in from help desks, surveys out, answers back.

Interactions are built from untrusted vendor payloads, so they are pydantic models (validated,
bounded); the rest are plain frozen dataclasses passed between the store, worker and channels.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

SurveyKind = Literal["nps", "csat", "ces"]
# Answer scale (lowest, highest) of each kind: the one definition every module uses.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
TicketEvent = Literal["closed", "reopened"]

_SHORT = 255


def _without_nul(value: object) -> object:
    """Drop NUL characters: PostgreSQL cannot store them in text (SQLite can); same result on both."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


# Every text field refuses NUL (a Rust regex scan), so input holding one fails validation; the model
# then validates it again with NUL dropped. Clean input, nearly all of it, pays no Python call per
# field: a `mode="before"` validator on every field was a third of building an Interaction.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _strip_nul(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError:
            # The same result as dropping NUL from every field's input before validating it.
            cleaned = {name: _without_nul(value) for name, value in data.items()} if isinstance(data, dict) else data
            if cleaned == data:  # no NUL: the error stands
                raise
        return handler(cleaned)


class Customer(_Model):
    email: Text | None = Field(None, max_length=320)
    name: Text | None = Field(None, max_length=_SHORT)
    external_id: Text | None = Field(None, max_length=_SHORT)
    slack_user_id: Text | None = Field(None, max_length=64)
    language: Text | None = Field(None, max_length=35)
    attributes: dict[Text, Text] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if "@" not in value:
            raise ValueError("not an e-mail address")
        return value.strip().lower()

    @field_validator("attributes", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        # Vendors send numbers and booleans in custom fields; segments compare text.
        if isinstance(value, dict):
            return {str(k)[:64]: "" if v is None else str(v)[:_SHORT] for k, v in value.items()}
        return value

    def key(self, connector: str) -> str | None:
        """Stable identity used for throttling across tickets and connectors."""
        if self.email:
            return f"email:{self.email}"
        if self.slack_user_id:
            return f"slack:{self.slack_user_id}"
        if self.external_id:
            return f"{connector}:{self.external_id}"
        return None


class Agent(_Model):
    id: Text | None = Field(None, max_length=_SHORT)
    name: Text | None = Field(None, max_length=_SHORT)
    email: Text | None = Field(None, max_length=320)


class Interaction(_Model):
    """One help-desk conversation that ended (or was re-opened): the unit a survey is about."""

    connector: Text = Field(max_length=64)
    event_id: Text = Field(min_length=1, max_length=_SHORT)
    event: TicketEvent = "closed"
    ticket_id: Text = Field(min_length=1, max_length=_SHORT)
    ticket_url: Text | None = Field(None, max_length=2000)
    subject: Text | None = Field(None, max_length=1000)
    channel: Text | None = Field(None, max_length=64)
    team: Text | None = Field(None, max_length=_SHORT)
    tags: tuple[Text, ...] = ()
    closed_at: datetime | None = None
    customer: Customer
    agent: Agent | None = None  # who gets the credit when the connector cannot tell roles apart
    assignee: Agent | None = None
    last_replier: Agent | None = None
    closer: Agent | None = None
    # Did the customer write publicly in this conversation? None = the help desk did not say.
    customer_replied: bool | None = None
    kind: SurveyKind = "nps"
    # Vendor-specific ids a reply-back needs later (conversation id, account id...); never shown.
    reply_context: dict[Text, Text] = Field(default_factory=dict)

    def credited_agent(self, role: str) -> Agent | None:
        """The agent credited for the survey: the configured role if known, else any known one."""
        preferred = {"assignee": self.assignee, "last_replier": self.last_replier, "closer": self.closer}
        return preferred.get(role) or self.agent or self.assignee or self.last_replier or self.closer

    @field_validator("tags", mode="before")
    @classmethod
    def _clean_tags(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(str(t).strip().lower()[:_SHORT] for t in value if str(t).strip()))
        return value


class SurveyState(enum.StrEnum):
    SCHEDULED = "scheduled"
    ON_HOLD = "on_hold"  # ticket re-opened before the survey went out; waits for the next close
    SENDING = "sending"
    SENT = "sent"
    ANSWERED = "answered"
    COMMENTED = "commented"
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"  # no channel can reach this customer (yet)


PENDING_STATES = frozenset({SurveyState.SCHEDULED, SurveyState.ON_HOLD})
ANSWERED_STATES = frozenset({SurveyState.ANSWERED, SurveyState.COMMENTED})
# States that count as "surveyed" for throttling and as "sent" for response rates.
REACHED_STATES = frozenset({SurveyState.SENT, *ANSWERED_STATES, SurveyState.EXPIRED})


@dataclass(frozen=True, slots=True)
class OutgoingSurvey:
    """Everything a delivery channel needs to put one survey in front of one customer."""

    id: int
    token: str
    kind: SurveyKind
    language: str
    company: str
    survey_url: str
    connector: str
    ticket_id: str
    ticket_url: str | None
    subject: str | None
    customer_name: str | None
    customer_email: str | None
    slack_user_id: str | None
    agent_name: str | None
    attempts: int = 0
    reply_context: dict[str, str] = field(default_factory=dict)
    # The one reminder of an unanswered survey (same token, links and buttons): channels word it so.
    reminder: bool = False
    # The last attempt may have delivered it (its worker died mid-call, or the channel's answer was lost):
    # a channel that can find its own earlier message looks before sending again.
    maybe_delivered: bool = False


@dataclass(frozen=True, slots=True)
class Delivered:
    channel: str
    ref: str = ""  # channel-specific handle (e.g. "<chat>:<message ts>") for later updates


@dataclass(frozen=True, slots=True)
class ScheduleOutcome:
    status: Literal["scheduled", "rescheduled", "on_hold", "duplicate", "suppressed", "ignored"]
    survey_id: int | None = None
    reason: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SurveyRef:
    """A survey as seen by answer handlers: enough to word the reply and update the message."""

    id: int
    token: str
    kind: SurveyKind
    state: SurveyState
    language: str
    delivery_channel: str | None
    delivery_ref: str | None
    customer_name: str | None
    subject: str | None


@dataclass(frozen=True, slots=True)
class Answer:
    survey: SurveyRef
    score: int
    comment: str | None
    previous_score: int | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return self.previous_score is not None and self.previous_score != self.score
