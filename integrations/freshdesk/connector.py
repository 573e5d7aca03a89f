from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

import httpx
from pydantic import ValidationError

from integrations.freshdesk import payloads as p
from integrations.freshdesk.settings import FreshdeskSettings
from nps_bot.models import Agent, Customer, Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.http import LazyClient, send
from nps_bot.plugin.payloads import clean, language_code, parse_time
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
from nps_bot.surveys.text import as_html

log = logging.getLogger(__name__)
TOKEN_HEADER = "x-nps-token"
TOKEN_QUERY = "token"


def _basic_credentials(header: str | None) -> list[str]:
    """Both halves of an "Authorization: Basic" header (the rule's "Requires authentication" option)."""
    if not header or header[:6].lower() != "basic ":
        return []
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return []
    user, _, password = decoded.partition(":")
    return [v for v in (user, password) if v and v != "X"]


class FreshdeskConnector:
    """Automation-rule webhook in (shared secret), ticket reply out."""

    name = "freshdesk"
    client = LazyClient()

    def __init__(self, settings: FreshdeskSettings) -> None:
        self.settings = settings

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Freshdesk does not sign webhooks; the rule sends our shared secret, compared in constant time."""
        if not self.settings.secret:
            raise Unauthorized("NPS_BOT_FRESHDESK_SECRET is not set on the server; refusing unauthenticated webhooks")
        offered = [v for v in (request.headers.get(TOKEN_HEADER), request.query.get(TOKEN_QUERY)) if v]
        offered += _basic_credentials(request.headers.get("authorization"))
        if not offered:
            raise Unauthorized("missing X-NPS-Token header (or ?token= query parameter)")
        for secret in self.settings.secret:
            expected = secret.encode()
            if any(hmac.compare_digest(expected, value.strip().encode()) for value in offered):
                return
        raise Unauthorized("X-NPS-Token does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        try:
            body = p.WebhookBody.model_validate(clean(data))
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        t = body.ticket
        word = (body.event or "").lower()
        status = p.status_name(t.status)
        event: TicketEvent
        if word in p.CLOSE_WORDS or (not word and status in ("resolved", "closed")):
            event = "closed"
        elif word in p.REOPEN_WORDS:
            event = "reopened"
        elif word:
            return Parsed(ignored=f"event {body.event!r} is not a resolve/close or re-open")
        else:
            return Parsed(
                ignored=f'ticket status {t.status!r} is not Resolved/Closed (send "event": "reopened" for re-opens)'
            )

        # Freshdesk sends no delivery id: ticket + event + the ticket's update time (or arrival time).
        stamp = t.updated_at or request.received_at.isoformat(timespec="seconds")
        c = body.contact or p.Contact()
        attributes: dict[str, Any] = {k: v for k, v in body.attributes.items() if v is not None}
        if body.company:
            attributes.setdefault("company", body.company)
        if t.type:
            attributes.setdefault("ticket_type", t.type)
        agent = Agent(id=body.agent.id, name=body.agent.name, email=body.agent.email) if body.agent else None
        if agent and not (agent.id or agent.name or agent.email):
            agent = None
        source = (t.source or "").strip().lower()
        try:
            interaction = Interaction(
                connector=self.name,
                event_id=f"{t.id}:{event}:{stamp}"[:255],
                event=event,
                ticket_id=t.id,
                ticket_url=t.url if t.url and t.url.startswith("http") else self._ticket_url(t.id),
                subject=t.subject,
                channel=p.SOURCES.get(source, source)[:64] or None,
                team=t.group,
                tags=t.tags or (),
                closed_at=parse_time(t.updated_at) if event == "closed" else None,
                customer=Customer(
                    email=c.email,
                    name=c.name,
                    external_id=c.unique_external_id or c.id,
                    language=language_code(c.language),
                    attributes=attributes,
                ),
                agent=agent,
                assignee=agent,
            )
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None
        return Parsed([interaction])

    def _ticket_url(self, ticket_id: str) -> str | None:
        host = self.settings.host
        return f"https://{host}/a/tickets/{ticket_id}" if host else None

    # -- reply-back -----------------------------------------------------------------------------

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        """Reply to the ticket with the survey; never leave a Resolved/Closed ticket re-opened.

        Freshdesk's Reply endpoint takes no status. With keep_status (the default) we check the
        ticket is still Resolved/Closed first, and if the reply moved its status we set it back.
        """
        s = self.settings
        if not s.reply_enabled:
            raise DeliveryUnavailable("freshdesk reply-back is off (NPS_BOT_FRESHDESK_REPLY=false)")
        if not s.has_credentials:
            raise DeliveryUnavailable("freshdesk reply-back needs NPS_BOT_FRESHDESK_DOMAIN and _API_KEY to be set")
        if not survey.ticket_id.isdigit():
            raise DeliveryUnavailable(f"freshdesk ticket id {survey.ticket_id!r} is not numeric")
        ticket_url = f"https://{s.host}/api/v2/tickets/{survey.ticket_id}"
        auth = httpx.BasicAuth(s.api_key or "", "X")

        before: int | None = None
        if s.keep_status:
            before = self._status(ticket_url, auth)
            if before not in p.CLOSED_STATUS_CODES:
                raise DeliveryUnavailable(
                    f"freshdesk ticket {survey.ticket_id} has status {before} (not Resolved/Closed); "
                    "not posting a survey into an active ticket"
                )

        response = send(
            self.client,
            "POST",
            f"{ticket_url}/reply",
            what="freshdesk reply",
            auth=auth,
            json={"body": as_html(survey)},
        )
        reply_id = _json(response).get("id")
        if before is not None:
            self._restore_status(ticket_url, auth, before, survey)
        log.info("survey %d posted into freshdesk ticket %s", survey.id, survey.ticket_id)
        return Delivered(self.name, f"{survey.ticket_id}:{reply_id}" if reply_id else survey.ticket_id)

    def _status(self, ticket_url: str, auth: httpx.Auth) -> int:
        status = _json(send(self.client, "GET", ticket_url, what="freshdesk ticket", auth=auth)).get("status")
        if not isinstance(status, int):
            raise DeliveryRetry("freshdesk ticket: response without a ticket status")
        return status

    def _restore_status(self, ticket_url: str, auth: httpx.Auth, before: int, survey: OutgoingSurvey) -> None:
        # The reply is already posted: from here on nothing may raise, or the worker would post it again.
        try:
            after = self._status(ticket_url, auth)
            if after != before:
                send(self.client, "PUT", ticket_url, what="freshdesk status", auth=auth, json={"status": before})
                log.warning(
                    "freshdesk ticket %s went from status %d to %d on our reply; set back to %d",
                    survey.ticket_id,
                    before,
                    after,
                    before,
                )
        except (DeliveryRetry, DeliveryUnavailable) as exc:
            log.warning("survey %d: reply posted, but checking the ticket status failed: %s", survey.id, exc)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
