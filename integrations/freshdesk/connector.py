"""Freshdesk: automation-rule webhook in (shared secret), ticket reply out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging

import httpx

from integrations.freshdesk import payloads as p
from integrations.freshdesk.settings import FreshdeskSettings
from nps_bot.models import Delivered, OutgoingSurvey
from nps_bot.plugin.auth import SharedToken
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.payloads import agent_of, clean, customer_of, invalid_is_bad_payload, language_code, templated_event
from nps_bot.plugin.ports import DeliveryRetry, Parsed, WebhookRequest, json_object, parses_in_memory
from nps_bot.plugin.reply import as_html, delivered, nothing_raises_after_posting, reply_target, require_closed

log = logging.getLogger(__name__)


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


def _digest(*parts: str) -> str:
    return "h" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@parses_in_memory
class FreshdeskConnector:
    """Automation-rule webhook in (shared secret), ticket reply out."""

    name = "freshdesk"
    client = LazyClient()

    def __init__(self, settings: FreshdeskSettings) -> None:
        self.settings = settings
        self.token = SharedToken(self.name, "NPS_BOT_FRESHDESK_SECRET")

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Freshdesk does not sign webhooks; the rule sends our shared secret (also as its API key)."""
        self.token.check(request, self.settings.secret, _basic_credentials(request.headers.get("authorization")))

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        with invalid_is_bad_payload():
            body = p.WebhookBody.model_validate(clean(data))
        t = body.ticket
        status = p.status_name(t.status)
        closing = p.CLOSED_STATUSES | {v.strip().lower() for v in self.settings.closed_statuses}
        event = templated_event(body.event, status, close_words=p.CLOSE_WORDS, closed_statuses=closing)
        if event is None and body.event:
            return Parsed(ignored=f"event {body.event!r} is not a resolve/close or re-open")
        if event is None:
            return Parsed(
                ignored=f'ticket status {t.status!r} is not Resolved/Closed (send "event": "reopened" for re-opens)'
            )

        # Freshdesk sends no delivery id: ticket + event + the ticket's update time. Without a time, a hash
        # of ticket, event and status, never the arrival time: Freshdesk retries a failed webhook after
        # 5 min, 30 min and 1 h, and a retry must be a duplicate, not a later close that moves the survey.
        stamp = t.updated_at or _digest(t.id, event, status or "")
        c = body.contact or p.Contact()
        attributes = body.segments(self.settings.attributes, company=body.company, ticket_type=t.type)
        source = (t.source or "").strip().lower()
        channel = p.SOURCES.get(source, source)[:64] or None
        with invalid_is_bad_payload():
            customer = customer_of(
                c, external_id=c.unique_external_id, language=language_code(c.language), attributes=attributes
            )
            interaction = t.interaction(
                self.name,
                event,
                f"{t.id}:{event}:{stamp}",
                url=self._ticket_url(t.id),
                channel=channel,
                customer=customer,
                agent=agent_of(body.agent),
            )
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
        ticket = reply_target(self.name, s, "freshdesk ticket", survey.ticket_id)
        ticket_url = f"https://{s.host}/api/v2/tickets/{ticket}"
        auth = httpx.BasicAuth(s.api_key or "", "X")

        before: int | None = None
        if s.keep_status:
            before = self._status(ticket_url, auth)
            shown = f"status {before} (not Resolved/Closed nor in NPS_BOT_FRESHDESK_CLOSED_STATUSES)"
            require_closed("freshdesk ticket", survey.ticket_id, before, s.closed_codes, shown=shown)

        response = send(
            self.client,
            "POST",
            f"{ticket_url}/reply",
            what="freshdesk reply",
            auth=auth,
            json={"body": as_html(survey)},
        )
        reply_id = json_body(response).get("id")
        if before is not None:
            self._restore_status(ticket_url, auth, before, survey)
        log.info("survey %d posted into freshdesk ticket %s", survey.id, survey.ticket_id)
        return delivered(self.name, survey.ticket_id, reply_id)

    def _status(self, ticket_url: str, auth: httpx.Auth) -> int:
        status = json_body(send(self.client, "GET", ticket_url, what="freshdesk ticket", auth=auth)).get("status")
        if not isinstance(status, int):
            raise DeliveryRetry("freshdesk ticket: response without a ticket status")
        return status

    def _restore_status(self, ticket_url: str, auth: httpx.Auth, before: int, survey: OutgoingSurvey) -> None:
        # The reply is already posted: from here on nothing may raise, or the worker would post it again.
        failed = f"survey {survey.id}: reply posted, but checking the ticket status failed"
        with nothing_raises_after_posting(log, failed):
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
