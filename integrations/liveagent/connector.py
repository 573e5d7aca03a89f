"""LiveAgent (QualityUnit, *.ladesk.com): rule "ticket status changed" → action "HTTP request" → us.

LiveAgent does not sign the requests its rules send, so the rule carries a shared secret: `?token=` in the
URL or an `X-NPS-Token` header (the older `X-NPS-Bot-Token` still works but is deprecated). The body is a
template the admin pastes into the rule (manifests/liveagent/); LiveAgent fills the `{$...}` variables and
sends an unknown variable literally, so any value still containing `{$` is refused with the field named.

Reply-back posts the survey as an agent message into the conversation
(`POST /api/conversations/{conversationId}/messages`, form fields `message` + `useridentifier`) and then,
because an agent message moves a resolved ticket to "answered", puts the ticket back to Resolved
(`PUT /api/v3/tickets/{ticketId}` with `{"status": "R"}`). The message is an API v1 call (v1 key); the status is
API v3 (v3 key, `NPS_BOT_LIVEAGENT_API_KEY_V3`). v3 does not take `L` (Closed) as a new status, so a ticket that
was Closed comes back as Resolved, not Closed. See README.md ("Help-desk connectors") for what is verified.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any
from urllib.parse import quote

import httpx

from integrations.liveagent.payloads import (
    CHANNELS,
    CLOSED_STATUSES,
    PLACEHOLDER,
    REOPENED_STATUSES,
    STATUS_NAMES,
    STATUS_WORDS,
    RuleBody,
    parse_form,
    parse_time,
    status_code,
    unexpanded_fields,
)
from integrations.liveagent.settings import LiveAgentSettings
from nps_bot.models import Customer, Delivered, Interaction, OutgoingSurvey
from nps_bot.plugin.auth import SharedToken
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.payloads import invalid_is_bad_payload, named_agent, pick_attributes
from nps_bot.plugin.ports import BadPayload, DeliveryUnavailable, Parsed, WebhookRequest, json_object, parses_in_memory
from nps_bot.plugin.reply import as_text, delivered, nothing_raises_after_posting, require_reply_back

__all__ = [
    "CHANNELS",
    "CLOSED_STATUSES",
    "PLACEHOLDER",
    "REOPENED_STATUSES",
    "STATUS_NAMES",
    "STATUS_WORDS",
    "LiveAgentConnector",
    "LiveAgentSettings",
    "RuleBody",
    "parse_form",
    "parse_time",
    "status_code",
    "unexpanded_fields",
]

log = logging.getLogger(__name__)
RESOLVED, CLOSED = "R", "L"


@parses_in_memory
class LiveAgentConnector:
    name = "liveagent"
    client = LazyClient()

    def __init__(self, settings: LiveAgentSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client
        self.token = SharedToken(self.name, "NPS_BOT_LIVEAGENT_SECRET")

    # -- webhook -----------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """LiveAgent does not sign what its rules send; the rule carries our shared token."""
        self.token.check(request, self.settings.secret)

    def parse(self, request: WebhookRequest) -> Parsed:
        data = self._decode(request)
        if unfilled := unexpanded_fields(data):
            raise BadPayload(
                "LiveAgent sent these fields with an unknown variable still in them: "
                f"{', '.join(unfilled[:10])}. Pick the variable from the rule editor's list, or remove the field."
            )
        with invalid_is_bad_payload():
            body = RuleBody.model_validate(data)
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
        agent = named_agent(body.agent_id, body.agent_name, body.agent_email)
        context = {"ticket_id": body.ticket_id, "status": code}
        if body.conversation_id:
            context["conversation_id"] = body.conversation_id
        if body.ticket_code:
            context["ticket_code"] = body.ticket_code
        channel = None
        if body.channel:
            channel = CHANNELS.get(body.channel.upper(), body.channel.lower()[:64])
        with invalid_is_bad_payload():
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
                    attributes=pick_attributes(body.custom_fields, self.settings.attributes),
                ),
                assignee=agent,
                kind=body.survey or "nps",
                reply_context=context,
            )
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
        require_reply_back(self.name, s)
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
        message_id = _message_id(response)
        if s.keep_resolved:
            self._restore_status(ctx)
        return delivered(self.name, conversation, message_id)

    def _restore_status(self, ctx: dict[str, str]) -> None:
        """Best effort: the survey is already in the ticket, so a failure here is only logged.

        A Resolved ticket goes back to `R`. A Closed one (`L`) cannot be put back through API v3
        (`L` is not a status v3 sets), so it goes to Resolved as well: out of the agents' queue, and
        LiveAgent's own rules close resolved tickets again as they always do.
        """
        ticket, status = ctx.get("ticket_id"), ctx.get("status")
        if not ticket or status not in CLOSED_STATUSES:
            return
        if status == CLOSED:
            log.info("liveagent ticket %s was Closed; API v3 cannot set Closed, so it is set to Resolved", ticket)
        with nothing_raises_after_posting(log, f"liveagent ticket {ticket}: survey posted but status not restored"):
            send(
                self.client,
                "PUT",
                f"{self.settings.base_url}/api/v3/tickets/{quote(ticket, safe='')}",
                what="liveagent ticket status",
                attempts=2,
                headers={"apikey": self.settings.v3_key, "Accept": "application/json"},
                json={"status": RESOLVED},
            )


def _message_id(response: httpx.Response) -> str | None:
    """LiveAgent's answer to a posted message is not documented; take an id if one is there, and
    treat an API v1 error envelope (`{"response": {"status": "ERROR"...}}`) as a refusal."""
    data = json_body(response)
    inner = data.get("response") if isinstance(data.get("response"), dict) else data
    if str(inner.get("status", "")).upper() == "ERROR":
        reason = str(inner.get("errormessage") or inner.get("message") or "error")[:200]
        raise DeliveryUnavailable(f"liveagent message: {reason}")
    for key in ("messageid", "message_id", "id"):
        if inner.get(key):
            return str(inner[key])
    return None
