"""The body of the rule's "HTTP request" action: our documented template
(manifests/liveagent/http_request_body.json), JSON or form-encoded, with LiveAgent's `{$...}` variables
filled in. An unknown variable arrives literally, so values still containing `{$` are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ConfigDict, Field, field_validator

from nps_bot.models import SurveyKind
from nps_bot.plugin.payloads import LooseModel, blank_to_none, strict_time
from nps_bot.plugin.ports import BadPayload

PLACEHOLDER = "{$"

# Ticket status codes of the LiveAgent API (Ticket.status): I init, N new, T chatting, P calling,
# R resolved, X deleted, B spam, A answered, C open, W postponed, L closed.
STATUS_WORDS = {
    "init": "I",
    "new": "N",
    "chatting": "T",
    "calling": "P",
    "resolved": "R",
    "deleted": "X",
    "spam": "B",
    "answered": "A",
    "open": "C",
    "postponed": "W",
    "closed": "L",
}
CLOSED_STATUSES = frozenset({"R", "L"})
# Back in play: the customer wrote (open/new), an agent answered again, or a chat/call restarted.
REOPENED_STATUSES = frozenset({"C", "N", "A", "T", "P"})
STATUS_NAMES = {code: word for word, code in STATUS_WORDS.items()}

# Ticket.channel_type codes → our channel names.
CHANNELS = {
    "E": "email",
    "B": "chat",  # contact button
    "M": "contact_form",
    "I": "chat",  # chat invitation
    "C": "phone",
    "W": "phone",  # call button
    "F": "facebook",
    "A": "facebook",  # facebook message
    "T": "twitter",
    "Q": "forum",
    "S": "suggestion",
}


class _Loose(LooseModel):
    # Rule variables are text already: numbers are not coerced, whitespace around values is dropped.
    model_config = ConfigDict(str_strip_whitespace=True, coerce_numbers_to_str=False)

    # A variable that exists but has no value (no agent assigned yet...) arrives as "".
    _blank_is_missing = field_validator("*", mode="before")(blank_to_none)


class RuleBody(_Loose):
    """Our documented rule body (manifests/liveagent/http_request_body.json). Names are ours; values
    are LiveAgent variables, so everything arrives as text."""

    event_id: str | None = None
    ticket_id: str = Field(max_length=255)
    ticket_code: str | None = None
    conversation_id: str | None = None
    status: str
    subject: str | None = None
    department: str | None = None
    tags: str | list[str] | None = None
    channel: str | None = None
    changed_at: str | int | float | None = None  # "2026-11-20 09:55:00", ISO 8601, or unix s/ms
    ticket_url: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    agent_email: str | None = None
    contact_id: str | None = None
    contact_email: str | None = None
    contact_name: str | None = None
    contact_language: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    survey: SurveyKind | None = None

    @field_validator("ticket_id", "status", "conversation_id", "agent_id", "contact_id", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _no_custom_fields(cls, value: object) -> object:
        return {} if value is None else value


def unexpanded_fields(data: object, path: str = "") -> list[str]:
    """Paths of values that still contain a `{$variable}` LiveAgent did not fill in."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if PLACEHOLDER in str(key):
                found.append(where)
            else:
                found.extend(unexpanded_fields(value, where))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(unexpanded_fields(value, f"{path}[{i}]"))
    elif isinstance(data, str) and PLACEHOLDER in data:
        found.append(path or "body")
    return found


def parse_form(body: bytes) -> dict[str, Any]:
    """x-www-form-urlencoded → our body dict; `custom_fields[plan]=pro` becomes a nested field."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body.strip()))
    except (UnicodeDecodeError, ValueError):
        # No detail: the parser would quote the body, which may hold an e-mail address, into our logs.
        raise BadPayload("malformed form body (expected name=value pairs joined by &)") from None
    data: dict[str, Any] = {}
    custom: dict[str, str] = {}
    tags: list[str] = []
    for key, value in pairs:
        if key.startswith("custom_fields[") and key.endswith("]"):
            custom[key[len("custom_fields[") : -1]] = value
        elif key in ("tags[]", "tags"):
            tags.append(value)
        else:
            data[key] = value
    if custom:
        data["custom_fields"] = custom
    if tags:
        data["tags"] = tags if len(tags) > 1 else tags[0]
    return data


def parse_time(value: str | float | None) -> datetime | None:
    """LiveAgent dates look like `2026-11-20 09:55:00` (UTC); ISO 8601 and unix seconds or milliseconds
    work too (the SDK's one parser); a value that is none of these is refused."""
    try:
        return strict_time(value)
    except ValueError:
        raise BadPayload(f"changed_at: not a date: {str(value).strip()[:40]!r}") from None


def status_code(value: str) -> str | None:
    text = value.strip()
    if len(text) == 1 and text.upper() in STATUS_NAMES:
        return text.upper()
    return STATUS_WORDS.get(text.lower())
