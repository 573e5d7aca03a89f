"""LiveAgent (QualityUnit, *.ladesk.com): rule "ticket status changed" → action "HTTP request" → us.

LiveAgent does not sign the requests its rules send, so the rule carries a shared secret: `?token=` in the
URL or an `X-NPS-Bot-Token` header. The body is a template the admin pastes into the rule
(manifests/liveagent/); LiveAgent fills the `{$...}` variables and sends an unknown variable literally,
so any value still containing `{$` is refused with the field named.

Reply-back posts the survey as an agent message into the conversation
(`POST /api/conversations/{conversationId}/messages`, form fields `message` + `useridentifier`) and then,
because an agent message moves a resolved ticket to "answered", puts the ticket back to the status it had
(`PUT /api/v3/tickets/{ticketId}` with `{"status": "R"}`). See README.md ("Help-desk connectors") for what is
verified and what is not.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config
from nps_bot.models import Agent, Customer, Delivered, Interaction, OutgoingSurvey, SurveyKind
from nps_bot.plugin.http import LazyClient, send
from nps_bot.plugin.ports import (
    BadPayload,
    DeliveryRetry,
    DeliveryUnavailable,
    Parsed,
    Unauthorized,
    WebhookRequest,
    describe,
    json_object,
)
from nps_bot.surveys.text import as_text

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-nps-bot-token"
TOKEN_PARAM = "token"
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


class LiveAgentSettings(BaseSettings):
    model_config = base_config("NPS_BOT_LIVEAGENT_")

    # Comma-separated to allow rotation: put the new token in the rule while the old one still works.
    secret: CsvList = Field(default_factory=list)
    url: str | None = None  # https://<account>.ladesk.com
    api_key: str | None = None
    # Agent id or e-mail the survey message is posted as (LiveAgent `useridentifier`).
    useridentifier: str | None = None
    # Unset = on whenever URL, API key and user identifier are set; false turns reply-back off.
    reply: bool | None = None
    # Put the ticket back to Resolved/Closed after posting (an agent message marks it "answered").
    keep_resolved: bool = True

    @property
    def base_url(self) -> str | None:
        return self.url.rstrip("/") if self.url else None


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        # A variable that exists but has no value (no agent assigned yet...) arrives as "".
        return None if isinstance(value, str) and not value.strip() else value


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
    changed_at: str | None = None
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


def parse_time(value: str | None) -> datetime | None:
    """LiveAgent dates look like `2026-11-20 09:55:00` (UTC); ISO 8601 and unix seconds work too."""
    if value is None:
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise BadPayload(f"changed_at: not a date: {text[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def status_code(value: str) -> str | None:
    text = value.strip()
    if len(text) == 1 and text.upper() in STATUS_NAMES:
        return text.upper()
    return STATUS_WORDS.get(text.lower())


class LiveAgentConnector:
    name = "liveagent"
    client = LazyClient()

    def __init__(self, settings: LiveAgentSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client

    # -- webhook -----------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        if not self.settings.secret:
            raise Unauthorized("NPS_BOT_LIVEAGENT_SECRET is not set on the server; refusing unauthenticated webhooks")
        given = request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_PARAM)
        if not given:
            raise Unauthorized(
                f"missing token: add ?{TOKEN_PARAM}=<secret> to the rule URL or an X-NPS-Bot-Token header"
            )
        if not any(hmac.compare_digest(given.encode(), s.encode()) for s in self.settings.secret):
            raise Unauthorized("token does not match NPS_BOT_LIVEAGENT_SECRET")

    def parse(self, request: WebhookRequest) -> Parsed:
        data = self._decode(request)
        if unfilled := unexpanded_fields(data):
            raise BadPayload(
                "LiveAgent sent these fields with an unknown variable still in them: "
                f"{', '.join(unfilled[:10])}. Pick the variable from the rule editor's list, or remove the field."
            )
        try:
            body = RuleBody.model_validate(data)
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        code = status_code(body.status)
        if code in CLOSED_STATUSES:
            event = "closed"
        elif code in REOPENED_STATUSES:
            event = "reopened"
        else:
            shown = STATUS_NAMES.get(code or "", body.status[:20])
            return Parsed(ignored=f"ticket status {shown!r} is not resolved, closed or re-opened")
        changed_at = parse_time(body.changed_at)
        stamp = changed_at or request.received_at.astimezone(UTC).replace(microsecond=0)
        event_id = body.event_id or f"{body.ticket_id}:{code}:{stamp.isoformat()}"
        agent = None
        if body.agent_id or body.agent_name or body.agent_email:
            agent = Agent(id=body.agent_id, name=body.agent_name, email=body.agent_email)
        context = {"ticket_id": body.ticket_id, "status": code}
        if body.conversation_id:
            context["conversation_id"] = body.conversation_id
        if body.ticket_code:
            context["ticket_code"] = body.ticket_code
        channel = None
        if body.channel:
            channel = CHANNELS.get(body.channel.upper(), body.channel.lower()[:64])
        try:
            interaction = Interaction(
                connector=self.name,
                event_id=event_id[:255],
                event=event,
                ticket_id=body.ticket_id,
                ticket_url=body.ticket_url,
                subject=body.subject,
                channel=channel,
                team=body.department,
                tags=body.tags or (),
                closed_at=changed_at if event == "closed" else None,
                customer=Customer(
                    email=body.contact_email,
                    name=body.contact_name,
                    external_id=body.contact_id,
                    language=body.contact_language,
                    attributes=body.custom_fields,
                ),
                assignee=agent,
                kind=body.survey or "nps",
                reply_context=context,
            )
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        return Parsed([interaction])

    @staticmethod
    def _decode(request: WebhookRequest) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").lower()
        if "x-www-form-urlencoded" in content_type:
            return parse_form(request.body)
        if "json" not in content_type:
            # The rule editor's content type is the admin's choice; sniff when it says neither.
            start = request.body.lstrip()[:1]
            if start not in (b"{", b"[") and b"=" in request.body:
                return parse_form(request.body)
        data = json_object(request.body)
        return data

    # -- reply-back ----------------------------------------------------------------------------

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        s = self.settings
        if s.reply is False:
            raise DeliveryUnavailable("liveagent: reply-back is off (NPS_BOT_LIVEAGENT_REPLY=false)")
        if not (s.base_url and s.api_key):
            raise DeliveryUnavailable("liveagent: NPS_BOT_LIVEAGENT_URL and NPS_BOT_LIVEAGENT_API_KEY are required")
        if not s.useridentifier:
            raise DeliveryUnavailable(
                "liveagent: NPS_BOT_LIVEAGENT_USERIDENTIFIER (agent posting the survey) is not set"
            )
        ctx = survey.reply_context
        conversation = ctx.get("conversation_id") or ctx.get("ticket_id")
        if not conversation:
            raise DeliveryUnavailable("liveagent: no conversation id for this ticket")
        response = send(
            self.client,
            "POST",
            f"{s.base_url}/api/conversations/{quote(conversation, safe='')}/messages",
            what="liveagent message",
            headers={"apikey": s.api_key, "Accept": "application/json"},
            # API v1 reads the key from the `apikey` parameter; v3 from the `apikey` header.
            data={"message": as_text(survey), "useridentifier": s.useridentifier, "apikey": s.api_key},
        )
        ref = conversation
        message_id = _message_id(response)
        if message_id:
            ref = f"{conversation}:{message_id}"
        if s.keep_resolved:
            self._restore_status(ctx)
        return Delivered(self.name, ref[:255])

    def _restore_status(self, ctx: dict[str, str]) -> None:
        """Best effort: the survey is already in the ticket, so a failure here is only logged."""
        ticket, status = ctx.get("ticket_id"), ctx.get("status")
        if not ticket or status not in CLOSED_STATUSES:
            return
        try:
            send(
                self.client,
                "PUT",
                f"{self.settings.base_url}/api/v3/tickets/{quote(ticket, safe='')}",
                what="liveagent ticket status",
                attempts=2,
                headers={"apikey": self.settings.api_key or "", "Accept": "application/json"},
                json={"status": status},
            )
        except (DeliveryRetry, DeliveryUnavailable) as exc:
            log.warning("liveagent ticket %s: survey posted but status not restored: %s", ticket, exc)


def _message_id(response: httpx.Response) -> str | None:
    """LiveAgent's answer to a posted message is not documented; take an id if one is there, and
    treat an API v1 error envelope (`{"response": {"status": "ERROR"...}}`) as a refusal."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    inner = data.get("response") if isinstance(data.get("response"), dict) else data
    if str(inner.get("status", "")).upper() == "ERROR":
        reason = str(inner.get("errormessage") or inner.get("message") or "error")[:200]
        raise DeliveryUnavailable(f"liveagent message: {reason}")
    for key in ("messageid", "message_id", "id"):
        if inner.get(key):
            return str(inner[key])
    return None
