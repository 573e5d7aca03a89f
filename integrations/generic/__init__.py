"""The generic signed webhook: any system that can POST JSON and sign it can trigger surveys.

Body schema and signature are documented in README.md ("Generic webhook").
"""

from __future__ import annotations

from integrations.generic.connector import GenericConnector
from integrations.generic.settings import GenericSettings
from nps_bot.plugin.ports import Host

__all__ = ["GenericConnector", "GenericSettings", "create"]


def create(app: Host) -> GenericConnector:
    return GenericConnector(GenericSettings(), tolerance=app.settings.webhook_tolerance.total_seconds())
