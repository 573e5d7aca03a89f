"""Chatwoot: an account webhook subscribed to `conversation_status_changed` schedules the survey when a
conversation is resolved (and holds it when it is opened again); the survey goes back into the
conversation as an outgoing message. Set-up: README.md ("Help-desk connectors")."""

from __future__ import annotations

from integrations.chatwoot.connector import ChatwootConnector
from integrations.chatwoot.settings import ChatwootSettings
from nps_bot.plugin.ports import Host

__all__ = ["ChatwootConnector", "ChatwootSettings", "create"]


def create(app: Host) -> ChatwootConnector:
    return ChatwootConnector(ChatwootSettings(), tolerance=app.settings.webhook_tolerance.total_seconds())
