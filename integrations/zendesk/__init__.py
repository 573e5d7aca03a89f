"""Zendesk: a trigger ("Ticket status changed to Solved" -> "Notify active webhook") or an
event-subscription webhook (zen:event-type:ticket.status_changed) schedules the survey; the survey
goes back into the ticket as a public comment. Set-up: README.md ("Help-desk connectors")."""

from __future__ import annotations

from integrations.zendesk.connector import ZendeskConnector
from integrations.zendesk.settings import ZendeskSettings
from nps_bot.plugin.ports import Host

__all__ = ["ZendeskConnector", "ZendeskSettings", "create"]


def create(app: Host) -> ZendeskConnector:
    return ZendeskConnector(ZendeskSettings(), tolerance=app.settings.webhook_tolerance.total_seconds())
