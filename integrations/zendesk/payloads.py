"""The two request bodies Zendesk can send us, and how each becomes an Interaction.

1. Trigger webhook ("Notify active webhook"): the admin writes the JSON body with Zendesk
   placeholders, so its shape is ours (manifests/zendesk/trigger-body.json). Placeholders that do not
   apply render as "" and are treated as missing.
2. Event-subscription webhook (zen:event-type:ticket.status_changed): Zendesk's fixed event envelope
   (https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/). It carries ids
   only (requester_id, assignee_id, group_id), no names or e-mail addresses.
"""

from __future__ import annotations

from nps_bot.plugin.payloads import LooseModel, PersonBody, TemplatedBody, TemplatedTicket

EVENT_TYPE_PREFIX = "zen:event-type:"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"

# Words the trigger body's "event" may carry (we put a literal there, so localised status names
# never matter); without "event", the rendered {{ticket.status}} decides.
CLOSE_WORDS = frozenset({"solved", "closed", "resolved", "ticket.solved", "ticket.closed"})
CLOSED_STATUSES = frozenset({"solved", "closed"})
ACTIVE_STATUSES = frozenset({"new", "open", "pending", "hold", "on-hold"})


def channel_name(value: str | None) -> str | None:
    """ "Web Form" ({{ticket.via}}) and "web_form" (via.channel) both become "web_form"."""
    if not value:
        return None
    return "_".join(value.lower().split())[:64] or None


# -- 1. trigger body (ours) ---------------------------------------------------------------------


class TriggerTicket(TemplatedTicket):
    channel: str | None = None
    brand: str | None = None


class TriggerPerson(PersonBody):
    locale: str | None = None
    language: str | None = None
    external_id: str | None = None


class TriggerBody(TemplatedBody):
    ticket: TriggerTicket
    requester: TriggerPerson | None = None
    assignee: TriggerPerson | None = None
    current_user: TriggerPerson | None = None
    organization: str | None = None


# -- 2. event-subscription envelope (Zendesk's) -----------------------------------------------------


class EventVia(LooseModel):
    channel: str | None = None


class EventDetail(LooseModel):
    id: str
    subject: str | None = None
    status: str | None = None
    requester_id: str | None = None
    assignee_id: str | None = None
    group_id: str | None = None
    actor_id: str | None = None
    brand_id: str | None = None
    organization_id: str | None = None
    form_id: str | None = None
    priority: str | None = None
    type: str | None = None
    tags: list[str] | None = None
    via: EventVia | None = None
    updated_at: str | None = None


class StatusChange(LooseModel):
    current: str | None = None
    previous: str | None = None


class EventEnvelope(LooseModel):
    type: str
    id: str
    time: str | None = None
    account_id: str | None = None
    subject: str | None = None
    zendesk_event_version: str | None = None
    detail: EventDetail
    event: StatusChange | None = None
