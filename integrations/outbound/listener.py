"""Every score or comment becomes a response.created / response.updated event in the outbox."""

from __future__ import annotations

from nps_bot.followups.outbox import RESPONSE_CREATED, RESPONSE_UPDATED, OutboundSettings, enqueue_answer
from nps_bot.models import Answer
from nps_bot.plugin.ports import Host


class OutboundListener:
    name = "outbound-webhooks"

    def __init__(self, host: Host, settings: OutboundSettings | None = None) -> None:
        self.host = host
        self.settings = settings or OutboundSettings()

    def on_answer(self, answer: Answer) -> None:
        if not self.settings.urls:
            return
        # A comment comes back with previous_score == score: it updates the response.
        event = RESPONSE_CREATED if answer.previous_score is None else RESPONSE_UPDATED
        enqueue_answer(self.host.engine, answer.survey.id, event, self.host.clock.now(), self.settings.urls)
