"""Zendesk: trigger body or ticket.status_changed event in (signed), public comment out."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from integrations.zendesk import payloads as p
from integrations.zendesk.settings import ZendeskSettings
from integrations.zendesk.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from nps_bot.models import Agent, Customer, Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.auth import TimestampSigned, require_secrets
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.names import NameCache, SurveyNames
from nps_bot.plugin.payloads import (
    agent_of,
    clean,
    customer_of,
    invalid_is_bad_payload,
    language_code,
    parse_time,
    pick_attributes,
    templated_event,
)
from nps_bot.plugin.ports import DeliveryUnavailable, Parsed, WebhookRequest, json_object, parses_in_memory
from nps_bot.plugin.reply import as_html, delivered, reply_target, require_closed

log = logging.getLogger(__name__)
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"


@parses_in_memory
class ZendeskConnector(TimestampSigned[ZendeskSettings]):
    """Webhook in (trigger body or ticket.status_changed event), public comment out."""

    name = "zendesk"
    client = LazyClient()

    def __init__(self, settings: ZendeskSettings, tolerance: float = 300.0) -> None:
        super().__init__(settings, tolerance)
        self.names = NameCache(settings.names_ttl)

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        require_secrets(self.settings.signing_secret, "NPS_BOT_ZENDESK_SIGNING_SECRET", signed=True)
        signature, timestamp = request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
        now = request.received_at.timestamp()
        verify(self.settings.signing_secret, signature, timestamp, request.body, now=now, tolerance=self.tolerance)

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        with invalid_is_bad_payload():
            if isinstance(data.get("type"), str) and data["type"].startswith(p.EVENT_TYPE_PREFIX):
                return self._parse_event(data)
            return self._parse_trigger(clean(data), request)

    def _parse_trigger(self, data: dict[str, Any], request: WebhookRequest) -> Parsed:
        body = p.TriggerBody.model_validate(data)
        t = body.ticket
        status = (t.status or "").lower()
        event = templated_event(body.event, status, close_words=p.CLOSE_WORDS, closed_statuses=p.CLOSED_STATUSES)
        if event is None and body.event:
            return Parsed(ignored=f"event {body.event!r} is not a solve or re-open")
        if event is None:
            return Parsed(ignored=f'ticket status {t.status!r} is not solved (send "event": "reopened" for re-opens)')

        invocation = request.headers.get(INVOCATION_HEADER)
        if invocation:
            event_id = f"invocation:{invocation}"
        else:
            stamp = t.updated_at or request.received_at.isoformat(timespec="seconds")
            event_id = f"ticket:{t.id}:{event}:{stamp}"

        r = body.requester or p.TriggerPerson()
        attributes = body.segments(self.settings.attributes, organization=body.organization, brand=t.brand)
        language = language_code(r.locale, r.language)
        customer = customer_of(r, external_id=r.external_id, language=language, attributes=attributes)
        interaction = t.interaction(
            self.name,
            event,
            event_id,
            url=self._ticket_url(t.id),
            channel=p.channel_name(t.channel),
            customer=customer,
            agent=agent_of(body.assignee),
            closer=agent_of(body.current_user),
        )
        return Parsed([interaction])

    def _parse_event(self, data: dict[str, Any]) -> Parsed:
        if data["type"] != p.STATUS_CHANGED:
            return Parsed(ignored=f"event type {data['type']!r} is not {p.STATUS_CHANGED}")
        envelope = p.EventEnvelope.model_validate(data)
        d = envelope.detail
        change = envelope.event or p.StatusChange()
        current = (change.current or d.status or "").lower()
        previous = (change.previous or "").lower()
        event: TicketEvent
        if current == "solved" or (current == "closed" and previous != "solved"):
            event = "closed"
        elif previous in ("solved", "closed") and current in p.ACTIVE_STATUSES:
            event = "reopened"
        else:
            return Parsed(ignored=f"status change {previous or '?'} -> {current or '?'} is not a solve or re-open")
        attributes = {
            key: value
            for key, value in (
                ("organization_id", d.organization_id),
                ("brand_id", d.brand_id),
                ("form_id", d.form_id),
            )
            if value and value != "0"
        }
        attributes = pick_attributes(attributes, self.settings.attributes)
        assignee = Agent(id=d.assignee_id) if d.assignee_id and d.assignee_id != "0" else None
        interaction = Interaction(
            connector=self.name,
            event_id=f"event:{envelope.id}"[:255],
            event=event,
            ticket_id=d.id,
            ticket_url=self._ticket_url(d.id),
            subject=d.subject,
            channel=p.channel_name(d.via.channel if d.via else None),
            # The event carries only the group id; the trigger body gives names.
            team=d.group_id if d.group_id and d.group_id != "0" else None,
            tags=d.tags or (),
            closed_at=parse_time(envelope.time) if event == "closed" else None,
            customer=Customer(external_id=d.requester_id, attributes=attributes),
            agent=assignee,
            assignee=assignee,
            closer=Agent(id=d.actor_id) if d.actor_id and d.actor_id != "0" else None,
            reply_context=self._event_context(envelope),
        )
        return Parsed([interaction])

    @staticmethod
    def _event_context(envelope: p.EventEnvelope) -> dict[str, str]:
        # The group id, for enrich_survey to name the team when the survey is delivered.
        ids = {"account_id": envelope.account_id, "group_id": envelope.detail.group_id}
        return {k: v for k, v in ids.items() if v and v != "0"}

    # -- names for ids (event webhooks carry ids only) ---------------------------------------

    def enrich_survey(self, survey: OutgoingSurvey) -> SurveyNames | None:
        """Name the agent and the team of a survey scheduled from an event webhook: the core stored the
        agent's id as its name and the group id as the team. One API call per unknown id (cached)."""
        s = self.settings
        group = survey.reply_context.get("group_id")
        agent = survey.agent_name if survey.agent_name and survey.agent_name.isdigit() else None
        if not (s.has_credentials and (group or agent)):
            return None
        names = SurveyNames(
            agent_name=self.names.name("user", agent, lambda: self._name("users", "user", agent)) if agent else None,
            team=self.names.name("group", group, lambda: self._name("groups", "group", group)) if group else None,
        )
        return names if names.agent_name or names.team else None

    def _name(self, collection: str, key: str, ident: str) -> str | None:
        """GET /api/v2/users/{id}.json -> {"user": {"name"}}, /api/v2/groups/{id}.json -> {"group": {"name"}}."""
        s = self.settings
        url = f"https://{s.host}/api/v2/{collection}/{ident}.json"
        auth = httpx.BasicAuth(f"{s.email}/token", s.api_token or "")
        found = json_body(send(self.client, "GET", url, what=f"zendesk {key}", attempts=1, auth=auth)).get(key)
        name = found.get("name") if isinstance(found, dict) else None
        return (name.strip() or None) if isinstance(name, str) else None

    def _ticket_url(self, ticket_id: str) -> str | None:
        host = self.settings.host
        return f"https://{host}/agent/tickets/{ticket_id}" if host else None

    # -- reply-back -----------------------------------------------------------------------------

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        """Add the survey as a public comment, keeping the ticket Solved.

        An agent's update through the Tickets API does not reopen a ticket unless it sets a status,
        but we check the ticket first and set "solved" explicitly so business rules see no change.
        """
        s = self.settings
        ticket = reply_target(self.name, s, "zendesk ticket", survey.ticket_id)
        url = f"https://{s.host}/api/v2/tickets/{ticket}.json"
        auth = httpx.BasicAuth(f"{s.email}/token", s.api_token or "")

        current = send(self.client, "GET", url, what="zendesk ticket", auth=auth)
        status = json_body(current).get("ticket", {}).get("status")
        if status == "closed":
            raise DeliveryUnavailable(f"zendesk ticket {survey.ticket_id} is closed; Zendesk refuses updates to it")
        require_closed("zendesk ticket", survey.ticket_id, status, {"solved"}, field="ticket status")

        body = {"ticket": {"comment": {"html_body": as_html(survey), "public": True}, "status": "solved"}}
        response = send(self.client, "PUT", url, what="zendesk comment", auth=auth, json=body)
        audit = json_body(response).get("audit") or {}
        comment_id = next(
            (e.get("id") for e in audit.get("events") or [] if isinstance(e, dict) and e.get("type") == "Comment"),
            None,
        )
        ref = comment_id or audit.get("id")
        log.info("survey %d posted into zendesk ticket %s", survey.id, survey.ticket_id)
        return delivered(self.name, survey.ticket_id, ref)


__all__ = ["ZendeskConnector"]
