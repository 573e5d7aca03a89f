"""Delivery channel "helpdesk": the survey goes back into the ticket, through its own connector."""

from __future__ import annotations

from collections.abc import Callable

from nps_bot.models import Delivered, OutgoingSurvey
from nps_bot.plugin.ports import DeliveryUnavailable, ReplyPoster


class HelpdeskReplyChannel:
    name = "helpdesk"

    def __init__(self, lookup: Callable[[str], object | None]) -> None:
        self.lookup = lookup

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        connector = self.lookup(survey.connector)
        if not isinstance(connector, ReplyPoster):
            raise DeliveryUnavailable(f"connector {survey.connector!r} cannot post replies")
        return connector.post_survey(survey)
