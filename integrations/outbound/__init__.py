"""Outbound signed webhooks: every answer, alert and closed loop POSTed to the URLs an admin lists
(`NPS_BOT_WEBHOOK_URLS`), signed like the inbound generic webhook. Found by entry point like every
other integration: an AnswerListener that queues answers, and a PeriodicJob that sends the outbox."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.outbound.job import OutboxJob
from integrations.outbound.listener import OutboundListener
from nps_bot.followups.outbox import OutboundSettings
from nps_bot.models import Answer
from nps_bot.plugin.ports import Host, PeriodicJob

__all__ = ["OutboundListener", "OutboundSettings", "OutboundWebhooks", "OutboxJob", "create"]


class OutboundWebhooks:
    name = "outbound-webhooks"

    def __init__(self, host: Host, settings: OutboundSettings) -> None:
        self.listener = OutboundListener(host, settings)
        self.job = OutboxJob(host, settings)

    def on_answer(self, answer: Answer) -> None:
        self.listener.on_answer(answer)

    def periodic_jobs(self) -> Sequence[PeriodicJob]:
        return [self.job]


def create(host: Host) -> OutboundWebhooks:
    return OutboundWebhooks(host, OutboundSettings())
