"""Helpers for webhook bodies: the loose model base, validation errors as 400s, templated bodies.

Many bodies are written by help-desk admins themselves with placeholders, and carry the marks of
their templates: a placeholder that does not apply renders as "" (or stays unexpanded,
"{{ticket.x}}"), times come in whatever format the help desk prints, and a language may be a tag
("lt-LT") or a name ("Lithuanian").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Container, Mapping
from datetime import UTC, datetime
from functools import cache
from types import TracebackType
from typing import Annotated, Any, Protocol

from babel import Locale
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from nps_bot.models import Agent, Customer, Interaction, TicketEvent
from nps_bot.plugin.ports import BadPayload, describe
from nps_bot.surveys import i18n

_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
LIQUID_MARKS = ("{{", "{%")


def clean(value: Any, marks: tuple[str, ...] = LIQUID_MARKS) -> Any:
    """Strip strings; "" and unrendered placeholders become None, recursively."""
    if isinstance(value, str):
        text = value.strip()
        if not text or any(m in text for m in marks):
            return None
        return text
    if isinstance(value, dict):
        return {str(k): clean(v, marks) for k, v in value.items()}
    if isinstance(value, list):
        return [item for item in (clean(v, marks) for v in value) if item is not None]
    return value


# Unix times at or above this are milliseconds (as seconds it would be the year 5138).
_MILLISECONDS = 100_000_000_000
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _from_unix(number: float) -> datetime | None:
    if number <= 0:  # 0 is how several vendors say "never"
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if number >= _MILLISECONDS else number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_time(value: object) -> datetime | None:
    """The one reader of vendor timestamps, as an aware UTC datetime.

    Accepts unix seconds or milliseconds (a number or its digits), ISO 8601 with or without a zone
    ("2026-01-10T07:56:29.000Z", "2026-01-10T09:56:29+02:00"; no zone means UTC) and
    "2026-01-10 07:56:29". Anything else (empty, an unrendered placeholder, garbage) is None rather
    than an error; `strict_time` is the variant that refuses it.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, int | float):
        parsed = _from_unix(float(value))
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            parsed = _from_unix(float(text))
        else:
            try:
                parsed = datetime.fromisoformat(text) if text else None
            except ValueError:
                return None
    else:
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def strict_time(value: object) -> datetime | None:
    """`parse_time` for fields where a date that cannot be read is an error (ValueError), not "no date"."""
    parsed = parse_time(value)
    if parsed is None and not (value is None or (isinstance(value, str) and not value.strip())):
        raise ValueError("not a date-time (expected unix seconds or milliseconds, or ISO 8601)")
    return parsed


# Model field types: every timestamp of every payload goes through parse_time.
Timestamp = Annotated[datetime | None, BeforeValidator(parse_time)]
StrictTimestamp = Annotated[datetime | None, BeforeValidator(strict_time)]


def pick_attributes(values: Mapping[str, Any], allowed: Collection[str]) -> dict[str, Any]:
    """The customer attributes worth keeping as segments: only the names an admin listed
    (NPS_BOT_<VENDOR>_ATTRIBUTES, compared without case; "*" keeps every name). Empty values,
    objects and lists are dropped whatever the list says."""
    wanted = {name.strip().lower() for name in allowed}
    return {
        key: value
        for key, value in values.items()
        if value not in (None, "")
        and not isinstance(value, dict | list)
        and ("*" in wanted or str(key).strip().lower() in wanted)
    }


@cache
def _language_names() -> dict[str, str]:
    """Lower-cased language names → codes: every English name Babel knows, regional ones included
    ("Brazilian Portuguese" → "pt_BR", which surveys treat as "pt"), and the native names of the survey
    languages ("Deutsch", "polski"), as admins fill language dropdowns with either."""
    names: dict[str, str] = {}
    # Plain languages first, so a name a regional variant shares keeps the plain code.
    for code, name in sorted(Locale("en").languages.items(), key=lambda item: "_" in item[0]):
        names.setdefault(name.lower(), code)
    for code in i18n.SUPPORTED:
        names.setdefault(Locale(code).get_display_name(code).lower(), code)
    return names


def language_code(*candidates: str | None) -> str | None:
    """The first usable language among candidates: a tag ("lt", "en-US") or an English name ("Lithuanian")."""
    for value in candidates:
        value = (value or "").strip()
        if not value:
            continue
        if _LANG_TAG.fullmatch(value):  # match() with "$" let "en\n" through, newline and all
            return value[:35]
        code = _language_names().get(value.split("(")[0].strip().lower())
        if code:
            return code
    return None


class LooseModel(BaseModel):
    """Base for vendor payload models: vendors add fields all the time and send ids as numbers or
    strings, so unknown fields are ignored, numbers become text, and aliased (camelCase) fields may
    also be filled by their Python name."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


def blank_to_none(value: Any) -> Any:
    """A `field_validator(..., mode="before")`: a blank string (an empty field, a placeholder with no
    value) means the field is missing, not that it is set to nothing."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class invalid_is_bad_payload:  # lower case: used as `with invalid_is_bad_payload():`, as before
    """Turn pydantic's ValidationError into BadPayload with a short reason: the sender gets a 400
    that says which field is wrong, and the values (personal data) stay out of the answer.

    A class, not a @contextmanager generator: every webhook enters it twice, and a generator-based
    one cost a tenth of the parse (bench/PROFILE.md)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, ValidationError):
            raise BadPayload(describe(exc)) from None


class Person(Protocol):
    @property
    def id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


def named_agent(id: str | None, name: str | None, email: str | None) -> Agent | None:
    """The agent a payload names, or None when it names nobody (unassigned tickets render every field empty)."""
    if not (id or name or email):
        return None
    return Agent(id=id, name=name, email=email)


class NamedRef(LooseModel):
    """Something a payload refers to by id, with a display name when the vendor includes one (team, tag...)."""

    id: str | None = None
    name: str | None = None


class PersonBody(NamedRef):
    """Someone a payload names (customer, agent): vendors send any of id, name and e-mail, or none."""

    email: str | None = None


class TypedPerson(PersonBody):
    """Someone whose payload also says what kind of participant it is ("admin", "user", "contact"...):
    conversation desks name customers and agents with the same object, and only `type` tells them apart."""

    type: str | None = None


def agent_of(person: Person | None) -> Agent | None:
    """`named_agent` for a payload object with id, name and email."""
    return None if person is None else named_agent(person.id, person.name, person.email)


def customer_of(
    person: Person, *, external_id: str | None = None, language: str | None = None, attributes: Mapping[str, Any]
) -> Customer:
    """The survey's customer from the person a payload names: its e-mail and name, and its id unless the
    vendor has a better external id; every connector maps the person the same way."""
    return Customer(
        email=person.email,
        name=person.name,
        external_id=external_id or person.id,
        language=language,
        attributes=dict(attributes),
    )


# -- bodies the admin writes from our template (help-desk triggers and automation rules) ----------

# A literal "event" word the template may carry, so the help desk's localised status names never matter.
REOPEN_WORDS = frozenset({"reopened", "re-opened", "ticket.reopened"})


class TemplatedTicket(LooseModel):
    """The "ticket" object of a templated body (manifests/<vendor>/): what every help desk can fill in."""

    id: str
    status: str | None = None
    subject: str | None = None
    url: str | None = None
    group: str | None = None
    tags: str | list[str] | None = None
    updated_at: str | None = None

    def interaction(
        self,
        connector: str,
        event: TicketEvent,
        event_id: str,
        *,
        url: str | None,
        channel: str | None,
        customer: Customer,
        agent: Agent | None,
        closer: Agent | None = None,
    ) -> Interaction:
        """The Interaction for this ticket: every template fills the ticket's fields the same way, so they
        map the same way ({{ticket.url}} only when it rendered as a link, else `url` built from the
        configured host; the update time dates a close). The agent is also the assignee."""
        return Interaction(
            connector=connector,
            event_id=event_id[:255],
            event=event,
            ticket_id=self.id,
            ticket_url=self.url if self.url and self.url.startswith("http") else url,
            subject=self.subject,
            channel=channel,
            team=self.group,
            tags=self.tags or (),
            closed_at=parse_time(self.updated_at) if event == "closed" else None,
            customer=customer,
            agent=agent,
            assignee=agent,
            closer=closer,
        )


class TemplatedBody(LooseModel):
    """The top level of a templated body; vendors add "ticket" and the people it names."""

    event: str | None = None
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    def segments(self, allowed: Collection[str], **fields: str | None) -> dict[str, Any]:
        """The customer attributes to keep: the body's "attributes" plus the ticket fields the template
        also fills (organization, company...; an explicit attribute of the same name wins), through
        `pick_attributes` with the admin's list."""
        values: dict[str, Any] = {k: v for k, v in self.attributes.items() if v is not None}
        for name, value in fields.items():
            if value:
                values.setdefault(name, value)
        return pick_attributes(values, allowed)


def templated_event(
    word: str | None, status: str | None, *, close_words: Container[str], closed_statuses: Container[str]
) -> TicketEvent | None:
    """What a templated body reports: its "event" word decides; without one, a closed status means closed.

    None means "not a close or re-open" (the caller names the word or the status in its reason).
    """
    word = (word or "").lower()
    if word in close_words or (not word and status in closed_statuses):
        return "closed"
    if word in REOPEN_WORDS:
        return "reopened"
    return None
