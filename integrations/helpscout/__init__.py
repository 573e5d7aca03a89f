"""Help Scout: a webhook subscribed to `convo.status` schedules the survey when a conversation is closed
(and holds it when the conversation becomes active again); the survey goes back into the conversation
as a reply that keeps it closed. Set-up: README.md ("Help-desk connectors")."""

from __future__ import annotations

from integrations.helpscout.connector import HelpScoutConnector
from integrations.helpscout.settings import HelpScoutSettings
from nps_bot.plugin.ports import Host

__all__ = ["HelpScoutConnector", "HelpScoutSettings", "create"]


def create(app: Host) -> HelpScoutConnector:
    return HelpScoutConnector(HelpScoutSettings())
