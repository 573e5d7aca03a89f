"""Chatwoot: account webhook in (signed, or a shared ?token=), outgoing conversation message out."""

from __future__ import annotations

import logging
from typing import Any

from integrations.chatwoot import payloads as p
from integrations.chatwoot.settings import ChatwootSettings
from integrations.chatwoot.signature import SCHEME, TIMESTAMP_HEADER, compute_signature, signed_message
from nps_bot.models import Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.auth import SharedToken, TimestampSigned
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.payloads import agent_of, customer_of, invalid_is_bad_payload, language_code, pick_attributes
from nps_bot.plugin.ports import (
    BadPayload,
    DeliveryUnavailable,
    Parsed,
    Unauthorized,
    WebhookRequest,
    json_object,
    parses_in_memory,
)
from nps_bot.plugin.reply import as_markdown, delivered, reply_ids, require_reply_back

log = logging.getLogger(__name__)
DELIVERY_HEADER = "x-chatwoot-delivery"


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


@parses_in_memory
class ChatwootConnector(TimestampSigned[ChatwootSettings]):
    """Account webhook in (signed, or a shared ?token=), outgoing conversation message out."""

    name = "chatwoot"
    client = LazyClient()

    def __init__(self, settings: ChatwootSettings, tolerance: float = 300.0) -> None:
        super().__init__(settings, tolerance)
        self.token = SharedToken(self.name, "NPS_BOT_CHATWOOT_TOKEN")

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        s = self.settings
        if not s.secret and not s.token:
            raise Unauthorized(
                "neither NPS_BOT_CHATWOOT_SECRET nor NPS_BOT_CHATWOOT_TOKEN is set on the server; "
                "refusing unauthenticated Chatwoot webhooks"
            )
        signature = request.headers.get(SCHEME.header.lower())
        if signature and s.secret:
            self._verify_signature(request, signature)
        elif s.token and (not s.secret or self.token.offered(request)):
            self.token.check(request, s.token)
        else:
            raise Unauthorized("missing X-Chatwoot-Signature header (set the webhook's secret, or use ?token=)")

    def _verify_signature(self, request: WebhookRequest, signature: str) -> None:
        timestamp = (request.headers.get(TIMESTAMP_HEADER) or "").strip()
        if not timestamp:
            raise Unauthorized("missing X-Chatwoot-Timestamp header")
        try:
            sent_at = float(timestamp)
        except ValueError:
            raise Unauthorized("X-Chatwoot-Timestamp is not a Unix time") from None
        self.check_fresh(sent_at, request, "X-Chatwoot-Timestamp")
        if not SCHEME.matches(self.settings.secret, signature.strip(), signed_message(timestamp, request.body)):
            raise Unauthorized("signature does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        event_name = data.get("event")
        if not isinstance(event_name, str) or not event_name:
            raise BadPayload('missing "event" (Chatwoot sends it on every webhook)')
        if event_name not in (p.STATUS_CHANGED, p.LEGACY_RESOLVED, p.LEGACY_OPENED):
            return Parsed(ignored=f"event {event_name!r} is not {p.STATUS_CHANGED}")
        with invalid_is_bad_payload():
            convo = p.Conversation.model_validate(data)

        status = (convo.status or "").lower()
        previous = convo.previous_status
        event: TicketEvent
        if event_name == p.LEGACY_RESOLVED or (event_name == p.STATUS_CHANGED and status == "resolved"):
            event = "closed"
        elif event_name == p.LEGACY_OPENED or (status in p.ACTIVE_STATUSES and previous in (None, "resolved")):
            # Without changed_attributes (older versions) an "open" may also be a new conversation; the
            # core ignores re-opens of conversations that have no survey, so that is harmless.
            event = "reopened"
        else:
            return Parsed(ignored=f"status change {previous or '?'} -> {status or '?'} is not a resolve or re-open")

        account = convo.account_ref or request.query.get("account_id") or self.settings.account_id
        delivery = request.headers.get(DELIVERY_HEADER)
        # `updated_at` (newer versions) is when the status changed; `timestamp` is the conversation's last
        # activity (last message), which neither dates the close nor tells two closes apart.
        changed_at = convo.updated_at
        if delivery:
            event_id = f"delivery:{delivery}"
        else:
            when = changed_at.isoformat() if changed_at else request.received_at.isoformat(timespec="seconds")
            event_id = f"conversation:{account or '?'}:{convo.id}:{event_name}:{status}:{when}"

        sender = convo.meta.sender or p.Person()
        attributes: dict[str, Any] = {}
        for source in (sender.custom_attributes, convo.custom_attributes):
            attributes.update({k: v for k, v in source.items() if v is not None and not isinstance(v, dict | list)})
        if convo.inbox_id:
            attributes.setdefault("inbox_id", convo.inbox_id)
        attributes = pick_attributes(attributes, self.settings.attributes)
        language = language_code(
            _text(sender.custom_attributes.get("language")),
            _text(sender.additional_attributes.get("language")),
            _text(convo.additional_attributes.get("browser_language")),
        )
        assignee = agent_of(convo.meta.assignee)
        interaction = Interaction(
            connector=self.name,
            event_id=event_id[:255],
            event=event,
            ticket_id=convo.id,
            ticket_url=self._conversation_url(account, convo.id),
            channel=p.channel_name(convo.channel),
            team=convo.meta.team.name if convo.meta.team else None,
            tags=convo.labels,
            closed_at=changed_at if event == "closed" else None,
            customer=customer_of(sender, external_id=sender.identifier, language=language, attributes=attributes),
            agent=assignee,
            assignee=assignee,
            reply_context=reply_ids(conversation_id=convo.id, account_id=account),
        )
        return Parsed([interaction])

    def _conversation_url(self, account: str | None, conversation_id: str) -> str | None:
        base = self.settings.base
        if not base or not account:
            return None
        return f"{base}/app/accounts/{account}/conversations/{conversation_id}"

    # -- reply-back -----------------------------------------------------------------------------

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        """Post the survey as a public outgoing message.

        An agent's outgoing message does not change the conversation's status in Chatwoot (only an
        incoming customer message re-opens a resolved conversation), so the conversation stays resolved.
        """
        s = self.settings
        require_reply_back(self.name, s)
        account = survey.reply_context.get("account_id") or s.account_id
        conversation = survey.reply_context.get("conversation_id") or survey.ticket_id
        if not account:
            raise DeliveryUnavailable(
                "chatwoot payload carried no account id; set NPS_BOT_CHATWOOT_ACCOUNT_ID for reply-back"
            )
        if not (str(account).isdigit() and str(conversation).isdigit()):
            raise DeliveryUnavailable(f"chatwoot ids {account!r}/{conversation!r} are not numeric")
        url = f"{s.base}/api/v1/accounts/{account}/conversations/{conversation}/messages"
        body = {"content": as_markdown(survey), "message_type": "outgoing", "private": False, "content_type": "text"}
        response = send(
            self.client, "POST", url, what="chatwoot message", headers={"api_access_token": s.api_token}, json=body
        )
        message_id = json_body(response).get("id")
        log.info("survey %d posted into chatwoot conversation %s", survey.id, conversation)
        return delivered(self.name, conversation, message_id)


__all__ = ["ChatwootConnector", "compute_signature"]
