"""Nicereply: import CSAT/CES/NPS ratings as answers (`nps-bot import nicereply`) and take single ratings
from a relay at POST /webhooks/nicereply. Setup and what is verified: README.md ("Help-desk connectors").
"""

from __future__ import annotations

from integrations.nicereply.connector import NicereplyIntegration
from integrations.nicereply.payloads import csat_to_five
from integrations.nicereply.settings import NicereplySettings
from nps_bot.plugin.ports import Host

__all__ = ["NicereplyIntegration", "NicereplySettings", "create", "csat_to_five"]


def create(app: Host) -> NicereplyIntegration:
    return NicereplyIntegration(app, NicereplySettings())
