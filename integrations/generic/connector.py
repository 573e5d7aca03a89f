"""The generic signed webhook: any system that can POST JSON and sign it (X-NPS-Signature) can trigger surveys."""

from __future__ import annotations

from integrations.generic.payloads import (
    CLOSED_EVENTS,
    REOPENED_EVENTS,
    AgentBody,
    CustomerBody,
    GenericBody,
    TicketBody,
)
from integrations.generic.settings import GenericSettings
from nps_bot.models import Agent, Customer, Interaction
from nps_bot.plugin.auth import TimestampSigned, require_secrets
from nps_bot.plugin.payloads import invalid_is_bad_payload, pick_attributes
from nps_bot.plugin.ports import BadPayload, Parsed, WebhookRequest, json_object, parses_in_memory
from nps_bot.plugin.signing import HEADER, verify

__all__ = [
    "CLOSED_EVENTS",
    "REOPENED_EVENTS",
    "AgentBody",
    "CustomerBody",
    "GenericBody",
    "GenericConnector",
    "GenericSettings",
    "TicketBody",
]


@parses_in_memory
class GenericConnector(TimestampSigned[GenericSettings]):
    name = "generic"

    def verify(self, request: WebhookRequest) -> None:
        require_secrets(self.settings.secret, "NPS_BOT_GENERIC_SECRET", signed=True)
        signature, now = request.headers.get(HEADER.lower()), request.received_at.timestamp()
        verify(self.settings.secret, signature, request.body, now=now, tolerance=self.tolerance)

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        with invalid_is_bad_payload():
            body = GenericBody.model_validate(data)
        if body.event in CLOSED_EVENTS:
            event = "closed"
        elif body.event in REOPENED_EVENTS:
            event = "reopened"
        else:
            return Parsed(ignored=f"event {body.event!r} is not a ticket close or re-open")
        if body.ticket is None or body.customer is None:
            raise BadPayload("ticket and customer are required for ticket events")
        t, c, a = body.ticket, body.customer, body.agent
        with invalid_is_bad_payload():
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
                    attributes=pick_attributes(c.attributes, self.settings.attributes),
                ),
                agent=Agent(id=None if a.id is None else str(a.id), name=a.name, email=a.email) if a else None,
                kind=body.survey,
            )
        return Parsed([interaction])
