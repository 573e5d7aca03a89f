"""Intercom: an app's webhook subscription to `conversation.admin.closed` schedules the survey when a
teammate closes a conversation (and `conversation.admin.opened` / a customer's reply holds it); the
survey goes back into the conversation as an admin reply, and the conversation is closed again.
Set-up: README.md ("Help-desk connectors")."""

from __future__ import annotations

from integrations.intercom.connector import IntercomConnector
from integrations.intercom.settings import IntercomSettings
from nps_bot.plugin.ports import Host

__all__ = ["IntercomConnector", "IntercomSettings", "create"]


def create(app: Host) -> IntercomConnector:
    return IntercomConnector(IntercomSettings())
