from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
from pydantic import ValidationError

from integrations.chatwoot import payloads as p
from integrations.chatwoot.settings import ChatwootSettings
from nps_bot.models import Agent, Customer, Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.http import LazyClient, send
from nps_bot.plugin.payloads import language_code
from nps_bot.plugin.ports import BadPayload, DeliveryUnavailable, Parsed, Unauthorized, WebhookRequest, describe
from nps_bot.surveys.text import as_markdown

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "x-chatwoot-signature"
TIMESTAMP_HEADER = "x-chatwoot-timestamp"
DELIVERY_HEADER = "x-chatwoot-delivery"
TOKEN_HEADER = "x-nps-token"
TOKEN_QUERY = "token"


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    """ "sha256=" + hex HMAC-SHA256(secret, "{timestamp}.{raw body}")."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _agent(person: p.Person | None) -> Agent | None:
    if person is None or not (person.id or person.name or person.email):
        return None
    return Agent(id=person.id, name=person.name, email=person.email)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class ChatwootConnector:
    """Account webhook in (signed, or a shared ?token=), outgoing conversation message out."""

    name = "chatwoot"
    client = LazyClient()

    def __init__(self, settings: ChatwootSettings, tolerance: float = 300.0) -> None:
        self.settings = settings
        self.tolerance = tolerance

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        s = self.settings
        if not s.secret and not s.token:
            raise Unauthorized(
                "neither NPS_BOT_CHATWOOT_SECRET nor NPS_BOT_CHATWOOT_TOKEN is set on the server; "
                "refusing unauthenticated Chatwoot webhooks"
            )
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature and s.secret:
            self._verify_signature(request, signature)
            return
        offered = [v for v in (request.headers.get(TOKEN_HEADER), request.query.get(TOKEN_QUERY)) if v]
        if s.token and offered:
            for token in s.token:
                if any(hmac.compare_digest(v.encode(), token.encode()) for v in offered):
                    return
            raise Unauthorized("token does not match")
        if s.secret:
            raise Unauthorized("missing X-Chatwoot-Signature header (set the webhook's secret, or use ?token=)")
        raise Unauthorized("missing ?token= query parameter (or X-NPS-Token header)")

    def _verify_signature(self, request: WebhookRequest, signature: str) -> None:
        timestamp = (request.headers.get(TIMESTAMP_HEADER) or "").strip()
        if not timestamp:
            raise Unauthorized("missing X-Chatwoot-Timestamp header")
        try:
            sent_at = float(timestamp)
        except ValueError:
            raise Unauthorized("X-Chatwoot-Timestamp is not a Unix time") from None
        if abs(request.received_at.timestamp() - sent_at) > self.tolerance:
            raise Unauthorized("X-Chatwoot-Timestamp is outside the allowed window")
        offered = signature.strip().encode()
        for secret in self.settings.secret:
            if hmac.compare_digest(offered, compute_signature(secret, timestamp, request.body).encode()):
                return
        raise Unauthorized("signature does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        try:
            data = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadPayload(f"malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadPayload("body must be a JSON object")
        event_name = data.get("event")
        if not isinstance(event_name, str) or not event_name:
            raise BadPayload('missing "event" (Chatwoot sends it on every webhook)')
        if event_name not in (p.STATUS_CHANGED, p.LEGACY_RESOLVED, p.LEGACY_OPENED):
            return Parsed(ignored=f"event {event_name!r} is not {p.STATUS_CHANGED}")
        try:
            convo = p.Conversation.model_validate(data)
        except ValidationError as exc:
            raise BadPayload(describe(exc)) from None

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
        changed_at = p.unix_time(convo.updated_at)
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
        language = language_code(
            _text(sender.custom_attributes.get("language")),
            _text(sender.additional_attributes.get("language")),
            _text(convo.additional_attributes.get("browser_language")),
        )
        assignee = _agent(convo.meta.assignee)
        reply_context = {"conversation_id": convo.id}
        if account:
            reply_context["account_id"] = account
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
            customer=Customer(
                email=sender.email,
                name=sender.name,
                external_id=sender.identifier or sender.id,
                language=language,
                attributes=attributes,
            ),
            agent=assignee,
            assignee=assignee,
            reply_context=reply_context,
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
        if not s.reply_enabled:
            raise DeliveryUnavailable("chatwoot reply-back is off (NPS_BOT_CHATWOOT_REPLY=false)")
        if not s.has_credentials:
            raise DeliveryUnavailable("chatwoot reply-back needs NPS_BOT_CHATWOOT_BASE_URL and _API_TOKEN to be set")
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
        message_id = _json(response).get("id")
        log.info("survey %d posted into chatwoot conversation %s", survey.id, conversation)
        return Delivered(self.name, f"{conversation}:{message_id}" if message_id else str(conversation))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["ChatwootConnector", "compute_signature"]
