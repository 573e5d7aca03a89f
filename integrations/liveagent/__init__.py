"""LiveAgent: a rule's "HTTP request" action triggers surveys; the survey can be posted back into the ticket.

Setup, settings and what is verified: README.md ("Help-desk connectors").
"""

from __future__ import annotations

from integrations.liveagent.connector import LiveAgentConnector, LiveAgentSettings
from nps_bot.app import AppContext

__all__ = ["LiveAgentConnector", "LiveAgentSettings", "create"]


def create(app: AppContext) -> LiveAgentConnector:
    return LiveAgentConnector(LiveAgentSettings())
