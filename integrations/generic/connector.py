from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config
from nps_bot.models import Agent, Customer, Interaction, SurveyKind
from nps_bot.plugin.ports import BadPayload, Parsed, Unauthorized, WebhookRequest, describe, json_object
from nps_bot.plugin.signing import HEADER, SignatureError, verify

CLOSED_EVENTS = {"ticket.closed", "ticket.solved", "ticket.resolved"}
REOPENED_EVENTS = {"ticket.reopened"}


class GenericSettings(BaseSettings):
    model_config = base_config("NPS_BOT_GENERIC_")

    # Comma-separated to allow rotation: sign with the new secret while the old one still verifies.
    secret: CsvList = Field(default_factory=list)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TicketBody(_Loose):
    id: str | int
    subject: str | None = None
    url: str | None = None
    channel: str | None = None
    team: str | None = None
    tags: list[str] = Field(default_factory=list)
    closed_at: datetime | None = None


class CustomerBody(_Loose):
    email: str | None = None
    name: str | None = None
    id: str | int | None = None
    slack_user_id: str | None = None
    language: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class AgentBody(_Loose):
    id: str | int | None = None
    name: str | None = None
    email: str | None = None


class GenericBody(_Loose):
    event: str
    id: str
    ticket: TicketBody | None = None
    customer: CustomerBody | None = None
    agent: AgentBody | None = None
    survey: SurveyKind = "nps"


class GenericConnector:
    name = "generic"

    def __init__(self, settings: GenericSettings, tolerance: float = 300.0) -> None:
        self.settings = settings
        self.tolerance = tolerance

    def verify(self, request: WebhookRequest) -> None:
        if not self.settings.secret:
            raise Unauthorized("NPS_BOT_GENERIC_SECRET is not set on the server; refusing unsigned webhooks")
        try:
            verify(
                self.settings.secret,
                request.headers.get(HEADER.lower()),
                request.body,
                now=request.received_at.timestamp(),
                tolerance=self.tolerance,
            )
        except SignatureError as exc:
            raise Unauthorized(str(exc)) from None

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        try:
            body = GenericBody.model_validate(data)
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        if body.event in CLOSED_EVENTS:
            event = "closed"
        elif body.event in REOPENED_EVENTS:
            event = "reopened"
        else:
            return Parsed(ignored=f"event {body.event!r} is not a ticket close or re-open")
        if body.ticket is None or body.customer is None:
            raise BadPayload("ticket and customer are required for ticket events")
        t, c, a = body.ticket, body.customer, body.agent
        try:
            interaction = Interaction(
                connector=self.name,
                event_id=body.id,
                event=event,
                ticket_id=str(t.id),
                ticket_url=t.url,
                subject=t.subject,
                channel=t.channel,
                team=t.team,
                tags=tuple(t.tags),
                closed_at=t.closed_at,
                customer=Customer(
                    email=c.email,
                    name=c.name,
                    external_id=None if c.id is None else str(c.id),
                    slack_user_id=c.slack_user_id,
                    language=c.language,
                    attributes=c.attributes,
                ),
                agent=Agent(id=None if a.id is None else str(a.id), name=a.name, email=a.email) if a else None,
                kind=body.survey,
            )
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        return Parsed([interaction])
