"""Freshdesk: an automation rule on ticket updates ("Status is changed to Resolved/Closed" ->
"Trigger webhook") schedules the survey; the survey goes back as a reply on the ticket.
Set-up: README.md ("Help-desk connectors")."""

from __future__ import annotations

from integrations.freshdesk.connector import FreshdeskConnector
from integrations.freshdesk.settings import FreshdeskSettings
from nps_bot.plugin.ports import Host

__all__ = ["FreshdeskConnector", "FreshdeskSettings", "create"]


def create(app: Host) -> FreshdeskConnector:
    return FreshdeskConnector(FreshdeskSettings())
