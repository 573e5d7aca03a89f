"""Intercom: signed notification in (X-Hub-Signature), admin reply out (the conversation closed again)."""

from __future__ import annotations

import logging
import re
from typing import Any

from integrations.intercom import payloads as p
from integrations.intercom.settings import IntercomSettings
from integrations.intercom.signature import SCHEME, compute_signature
from nps_bot.models import Agent, Customer, Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.payloads import agent_of, invalid_is_bad_payload, language_code, pick_attributes
from nps_bot.plugin.ports import BadPayload, Parsed, WebhookRequest, json_object, parses_in_memory
from nps_bot.plugin.reply import (
    as_html,
    delivered,
    nothing_raises_after_posting,
    reply_ids,
    reply_target,
    require_closed,
)

log = logging.getLogger(__name__)
INBOX_URL = "https://app.intercom.com/a/apps/{app_id}/conversations/{id}"
# Intercom's source.type for Messenger conversations is "conversation"; the rest name the channel.
CHANNELS = {"conversation": "chat", "phone_call": "phone", "phone_switch": "phone"}
_TAG = re.compile(r"<[^>]+>")
OPEN = "an open conversation"


def _agent(author: p.Author | None) -> Agent | None:
    if author is None or author.type != "admin":
        return None
    return agent_of(author)


def _plain(value: str | None) -> str | None:
    text = _TAG.sub("", value or "").strip()
    return text or None


@parses_in_memory
class IntercomConnector:
    """Signed notification in (X-Hub-Signature), admin reply out (the conversation closed again)."""

    name = "intercom"
    client = LazyClient()

    def __init__(self, settings: IntercomSettings) -> None:
        self.settings = settings

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        SCHEME.verify(request, self.settings.client_secret, setting="NPS_BOT_INTERCOM_CLIENT_SECRET", lower=True)

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        topic = data.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            raise BadPayload('missing "topic" (Intercom sends it on every notification)')
        topic = topic.strip()
        if topic == p.PING:
            return Parsed(ignored="ping")
        if topic not in p.CLOSED_TOPICS | p.OPENED_TOPICS | {p.USER_REPLIED}:
            return Parsed(ignored=f"topic {topic!r} is not a conversation close or re-open")
        with invalid_is_bad_payload():
            note = p.Notification.model_validate(data)
            convo = p.Conversation.model_validate(note.data.item)

        event: TicketEvent
        if topic in p.CLOSED_TOPICS:
            event = "closed"
        elif topic in p.OPENED_TOPICS or (convo.state or "").lower() == "open" or convo.open:
            event = "reopened"
        else:
            return Parsed(ignored=f"{topic} left the conversation {convo.state or 'as it was'}")
        with invalid_is_bad_payload():
            interaction = self._interaction(note, convo, event)
        return Parsed([interaction])

    def _interaction(self, note: p.Notification, convo: p.Conversation, event: TicketEvent) -> Interaction:
        s = self.settings
        source = convo.source or convo.conversation_message or p.Source()
        parts = convo.parts()
        # Who the customer is: the conversation's author when a contact started it (2.x source.author,
        # the only place with an e-mail), else the first contact (ids only), or the 1.x user.
        author = source.author if source.author and source.author.type in p.CUSTOMER_TYPES else None
        contacts = convo.contact_list() or ([convo.user] if convo.user else []) or convo.customers
        contact = next((c for c in contacts if author and c.id == author.id), contacts[0] if contacts else None)
        email = (author.email if author else None) or (contact.email if contact else None)
        name = (author.name if author else None) or (contact.name if contact else None)
        contact_id = (contact.id if contact else None) or (author.id if author else None)

        attributes = dict(convo.custom_attributes)
        if contact and contact.external_id:
            attributes.setdefault("external_id", contact.external_id)
        # 2.x items mix Intercom's own attributes ("Has attachments", "Copilot used"...) into custom_attributes.
        attributes = pick_attributes(attributes, s.attributes)
        language = language_code(
            *(str(v) for k, v in convo.custom_attributes.items() if k.lower() == s.language_attribute.lower() and v)
        )

        admins = {a.id: a for a in (part.author for part in parts) if a and a.type == "admin" and a.id}
        if convo.assignee and convo.assignee.type in (None, "admin"):
            assignee = _agent(convo.assignee.model_copy(update={"type": "admin"}))
        elif convo.admin_assignee_id:
            known = admins.get(convo.admin_assignee_id)
            assignee = _agent(known) if known else Agent(id=convo.admin_assignee_id)
        else:
            assignee = None
        closer = next((_agent(x.author) for x in reversed(parts) if x.part_type == "close"), None)
        # An admin's public comment, or a close that carried a message to the customer.
        replies = [x for x in parts if x.part_type == "comment" or (x.part_type == "close" and _plain(x.body))]
        last_replier = next((a for a in (_agent(x.author) for x in reversed(replies)) if a), None)
        customer_replied: bool | None = None
        if author or any(x.author and x.author.type in p.CUSTOMER_TYPES for x in parts):
            customer_replied = True
        team = s.team_names.get(convo.team_assignee_id, convo.team_assignee_id) if convo.team_assignee_id else None

        closed_at = None
        if event == "closed":
            closed_at = convo.statistics.last_close_at if convo.statistics else None
            closed_at = closed_at or convo.updated_at or note.created_at
        url = convo.links.get("conversation_web")
        if not (isinstance(url, str) and url.startswith("http")):
            url = INBOX_URL.format(app_id=note.app_id, id=convo.id) if note.app_id else None
        channel = (source.type or "").lower()
        return Interaction(
            connector=self.name,
            event_id=f"notification:{note.id}"[:255],
            event=event,
            ticket_id=convo.id,
            ticket_url=url,
            subject=_plain(convo.title) or _plain(source.subject),
            channel=CHANNELS.get(channel, channel)[:64] if channel and channel != "conversation_message" else None,
            team=team,
            tags=tuple(t.name for t in (convo.tags.tags if convo.tags else []) if t.name),
            closed_at=closed_at,
            customer=Customer(
                email=email,
                name=name,
                external_id=contact_id,
                language=language,
                attributes=attributes,
            ),
            assignee=assignee,
            last_replier=last_replier,
            closer=closer,
            customer_replied=customer_replied,
            reply_context=reply_ids(conversation_id=convo.id, contact_id=contact_id, app_id=note.app_id),
        )

    # -- reply-back -----------------------------------------------------------------------------

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        """Reply as the configured admin; keep the conversation closed.

        Intercom's reply endpoint has no "keep the state" option, and the reply's response carries
        the conversation's `state`. With keep_closed (the default) we read the conversation first
        (no survey into a conversation that is open again), and if the reply left it open we close
        it again with `message_type: "close"` (no body, so nothing else reaches the customer).
        """
        s = self.settings
        convo = survey.reply_context.get("conversation_id") or survey.ticket_id
        convo_id = reply_target(self.name, s, "intercom conversation", convo)
        base = s.api_base.rstrip("/")
        url = f"{base}/conversations/{convo_id}"
        headers = {
            "Authorization": f"Bearer {s.access_token}",
            "Intercom-Version": s.api_version,
            "Accept": "application/json",
        }

        if s.keep_closed:
            state = json_body(send(self.client, "GET", url, what="intercom conversation", headers=headers)).get("state")
            require_closed("intercom conversation", convo_id, state, {"closed"}, field="state", active=OPEN)

        body = {"message_type": "comment", "type": "admin", "admin_id": s.admin_id, "body": as_html(survey)}
        data = json_body(send(self.client, "POST", f"{url}/reply", what="intercom reply", headers=headers, json=body))
        parts = (data.get("conversation_parts") or {}).get("conversation_parts") or []
        part_id = parts[-1].get("id") if parts and isinstance(parts[-1], dict) else None
        if s.keep_closed and data.get("state") != "closed":
            self._close(f"{url}/parts", headers, survey, convo_id, data.get("state"))
        log.info("survey %d posted into intercom conversation %s", survey.id, convo_id)
        return delivered(self.name, convo_id, part_id)

    def _close(self, url: str, headers: dict[str, str], survey: OutgoingSurvey, convo_id: str, state: Any) -> None:
        # The reply is posted: from here on nothing may raise, or the worker would post it again.
        close = {"message_type": "close", "type": "admin", "admin_id": self.settings.admin_id}
        failed = f"survey {survey.id}: reply posted, but closing conversation {convo_id} again failed"
        with nothing_raises_after_posting(log, failed):
            send(self.client, "POST", url, what="intercom close", headers=headers, json=close)
            log.info("intercom conversation %s was %s after the survey reply; closed it again", convo_id, state)


__all__ = ["IntercomConnector", "compute_signature"]
