"""LiveAgent: a rule's "HTTP request" action triggers surveys; the survey can be posted back into the ticket.

Setup, settings and what is verified: README.md ("Help-desk connectors").
"""

from __future__ import annotations

from integrations.liveagent.connector import LiveAgentConnector
from integrations.liveagent.settings import LiveAgentSettings
from nps_bot.plugin.ports import Host

__all__ = ["LiveAgentConnector", "LiveAgentSettings", "create"]


def create(app: Host) -> LiveAgentConnector:
    return LiveAgentConnector(LiveAgentSettings())
