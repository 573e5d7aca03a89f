"""Help Scout: signed `convo.status` webhook in, conversation reply (kept closed) out."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from integrations.helpscout import payloads as p
from integrations.helpscout.settings import HelpScoutSettings
from integrations.helpscout.signature import SCHEME
from integrations.helpscout.template_link import ticket_key
from nps_bot.models import Agent, Delivered, Interaction, OutgoingSurvey, TicketEvent
from nps_bot.plugin.http import LazyClient, json_body, send
from nps_bot.plugin.names import NameCache, SurveyNames
from nps_bot.plugin.payloads import (
    agent_of,
    customer_of,
    invalid_is_bad_payload,
    language_code,
    parse_time,
    pick_attributes,
)
from nps_bot.plugin.ports import (
    BadPayload,
    DeliveryRetry,
    DeliveryUnavailable,
    Parsed,
    WebhookRequest,
    json_object,
    parses_in_memory,
)
from nps_bot.plugin.reply import as_html, delivered, numeric_id, reply_ids, reply_target, require_closed

log = logging.getLogger(__name__)
WEB_URL = "https://secure.helpscout.net/conversation/{id}/{number}/"
# Refresh the cached access token this long before Help Scout says it expires.
TOKEN_MARGIN = 60.0
FIELD = "field:"  # reply_context key prefix: "field:<name>" = "<field id>:<option id>"


def _agent(person: p.Person | None) -> Agent | None:
    if person is None or (person.type or "user") != "user":
        return None
    return agent_of(person)


@parses_in_memory
class HelpScoutConnector:
    """Signed `convo.status` webhook in, conversation reply (kept closed) out."""

    name = "helpscout"
    client = LazyClient()

    def __init__(self, settings: HelpScoutSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0
        self.names = NameCache(settings.names_ttl)

    # -- inbound --------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """X-HelpScout-Signature = base64(HMAC-SHA1(webhook secret, raw body))."""
        SCHEME.verify(request, self.settings.secret, setting="NPS_BOT_HELPSCOUT_SECRET")

    def parse(self, request: WebhookRequest) -> Parsed:
        event = (request.headers.get(p.EVENT_HEADER) or "").strip().lower()
        data = json_object(request.body)
        if not event:
            raise BadPayload("missing X-HelpScout-Event header")
        if event == p.TEST_EVENT:
            return Parsed(ignored="Help Scout test event")
        if event not in (p.STATUS_EVENT, p.CUSTOMER_REPLY_EVENT):
            return Parsed(ignored=f"event {event!r} is not a conversation status change")
        with invalid_is_bad_payload():
            convo = p.Conversation.model_validate(data)

        status = (convo.status or "").lower()
        kind: TicketEvent
        if event == p.STATUS_EVENT and status == "closed":
            kind = "closed"
        elif status in p.ACTIVE_STATUSES:
            # Active again after a close (by an agent, or by the customer's reply): hold a pending survey.
            kind = "reopened"
        else:
            return Parsed(ignored=f"{event} with status {convo.status!r} is not a close or re-open")

        with invalid_is_bad_payload():
            interaction = self._interaction(convo, event, kind, request)
        return Parsed([interaction])

    def _interaction(
        self, convo: p.Conversation, event: str, kind: TicketEvent, request: WebhookRequest
    ) -> Interaction:
        s = self.settings
        customer = convo.primary_customer or convo.customer or p.Person()
        fields = {f.name: f.shown for f in convo.custom_fields if f.name}
        language = language_code(*(v for k, v in fields.items() if v and k.lower() == s.language_field.lower()))
        attributes = pick_attributes(fields, s.attributes)

        owner = convo.assignee or convo.owner
        assignee = _agent(owner)
        team = owner.name if owner and owner.type == "team" else None
        mailbox_id = convo.mailbox_id or (convo.mailbox.id if convo.mailbox else None)
        if team is None and mailbox_id:
            team = s.mailbox_names.get(mailbox_id) or (convo.mailbox.name if convo.mailbox else None)

        closer = _agent(convo.closed_by_user)
        if closer is None and isinstance(convo.closed_by, p.Person):
            closer = _agent(convo.closed_by)
        elif closer is None and isinstance(convo.closed_by, str) and convo.closed_by not in ("", "0"):
            closer = Agent(id=convo.closed_by)

        threads = [t for t in convo.thread_list() if (t.state or "published") == "published"]
        replies = sorted((t for t in threads if t.type == "message"), key=lambda t: t.created_at or "")
        last_replier = _agent(replies[-1].created_by) if replies else None
        customer_replied: bool | None = None
        if any(t.type == "customer" for t in threads) or (convo.source and convo.source.via == "customer"):
            customer_replied = True

        stamp = (convo.closed_at if kind == "closed" else None) or convo.user_updated_at or convo.modified_at
        stamp = stamp or request.received_at.isoformat(timespec="seconds")
        web = convo.links.get("web")
        url = web.href if web and web.href and web.href.startswith("http") else None
        if url is None and convo.number:
            url = WEB_URL.format(id=convo.id, number=convo.number)
        context = reply_ids(conversation_id=convo.id, customer_id=customer.id, mailbox_id=mailbox_id)
        if mailbox_id:
            # Dropdown values that came as option ids only: enrich_survey stores their labels.
            for f in convo.custom_fields:
                field_id = f.id or f.field_id
                if f.name in attributes and f.option_id and field_id:
                    context[f"{FIELD}{f.name}"] = f"{field_id}:{f.option_id}"
        return Interaction(
            connector=self.name,
            event_id=f"{event}:{convo.id}:{(convo.status or '').lower()}:{stamp}"[:255],
            event=kind,
            # The number, as the survey links in Help Scout's e-mails key it; the API calls use the id.
            ticket_id=ticket_key(convo.id, convo.number),
            ticket_url=url,
            subject=convo.subject,
            channel=(convo.type or "").lower()[:64] or None,
            team=team,
            tags=tuple(convo.tag_names()),
            closed_at=parse_time(convo.closed_at) if kind == "closed" else None,
            customer=customer_of(customer, language=language, attributes=attributes),
            assignee=assignee,
            last_replier=last_replier,
            closer=closer,
            customer_replied=customer_replied,
            reply_context=context,
        )

    # -- reply-back -----------------------------------------------------------------------------

    def _access_token(self, *, fresh: bool = False) -> str:
        """Client credentials flow, cached until shortly before the token expires (Help Scout: 2 days)."""
        s = self.settings
        with self._lock:
            if not fresh and self._token and time.monotonic() < self._token_expires:
                return self._token
        response = send(
            self.client,
            "POST",
            f"{s.api_base}/v2/oauth2/token",
            what="helpscout token",
            data={"grant_type": "client_credentials", "client_id": s.app_id, "client_secret": s.app_secret},
        )
        body = json_body(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise DeliveryRetry("helpscout token: response without an access_token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        with self._lock:
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN)
        return token

    def _api(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """An API call with the cached token; one fresh token and one more try if Help Scout answers 401."""
        try:
            return send(self.client, method, url, what=what, headers=self._auth(), **kwargs)
        except DeliveryUnavailable as exc:
            if not str(exc).startswith(f"{what}: HTTP 401"):
                raise
        log.info("%s: access token refused; fetching a new one", what)
        return send(self.client, method, url, what=what, headers=self._auth(fresh=True), **kwargs)

    def _auth(self, *, fresh: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token(fresh=fresh)}"}

    # -- names for ids (dropdown option ids) --------------------------------------------------

    def enrich_survey(self, survey: OutgoingSurvey) -> SurveyNames | None:
        """The labels of dropdown custom fields that arrived as option ids: one
        GET /v2/mailboxes/{id}/fields per mailbox (its answer names every option), cached."""
        ctx = survey.reply_context
        mailbox = ctx.get("mailbox_id")
        wanted = {k.removeprefix(FIELD): v for k, v in ctx.items() if k.startswith(FIELD)}
        if not (wanted and mailbox and self.settings.has_credentials):
            return None
        labels: dict[str, str] = {}
        for name, ids in wanted.items():
            key = f"{mailbox}:{ids}"
            label = self.names.name("option", key, lambda key=key: self._option_labels(mailbox).get(key))
            if label:
                labels[name] = label
        return SurveyNames(attributes=labels) if labels else None

    def _option_labels(self, mailbox: str) -> dict[str, str]:
        """{"<mailbox>:<field id>:<option id>": label} for every dropdown of the mailbox; all remembered."""
        url = f"{self.settings.api_base}/v2/mailboxes/{mailbox}/fields"
        data = json_body(self._api("GET", url, what="helpscout mailbox fields", attempts=1))
        found: dict[str, str] = {}
        for field in (data.get("_embedded") or {}).get("fields") or []:
            for option in field.get("options") or [] if isinstance(field, dict) else []:
                if isinstance(option, dict) and isinstance(option.get("label"), str):
                    found[f"{mailbox}:{field.get('id')}:{option.get('id')}"] = option["label"]
        for key, label in found.items():
            self.names.remember("option", key, label)
        return found

    def post_survey(self, survey: OutgoingSurvey) -> Delivered:
        """Reply to the customer with the survey, with `"status": "closed"` so the reply does not
        reactivate the conversation (without a status, Help Scout's reply endpoint makes it active).
        The conversation is read first: one that is active again gets no survey and is not closed by us.
        """
        s = self.settings
        convo = survey.reply_context.get("conversation_id") or survey.ticket_id
        convo_id = reply_target(self.name, s, "helpscout conversation", convo)
        customer_id = survey.reply_context.get("customer_id")
        if not customer_id:
            raise DeliveryUnavailable("helpscout reply needs the customer id, and the webhook carried none")
        customer_id = numeric_id("helpscout customer", customer_id)
        url = f"{s.api_base}/v2/conversations/{convo_id}"

        status = json_body(self._api("GET", url, what="helpscout conversation")).get("status")
        require_closed("helpscout conversation", convo_id, status, {"closed"}, active="an active conversation")

        body = {"customer": {"id": int(customer_id)}, "text": as_html(survey), "status": "closed"}
        response = self._api("POST", f"{url}/reply", what="helpscout reply", json=body)
        thread_id = response.headers.get("resource-id")
        log.info("survey %d posted into helpscout conversation %s", survey.id, convo_id)
        return delivered(self.name, convo_id, thread_id)


__all__ = ["HelpScoutConnector"]
