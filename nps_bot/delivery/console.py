"""The channel of last resort: logs what would be sent, so the service runs with no chat token."""

from __future__ import annotations

import logging

from nps_bot.config import Settings
from nps_bot.logs import CONSOLE_LOGGER
from nps_bot.models import Delivered, OutgoingSurvey

log = logging.getLogger(CONSOLE_LOGGER)  # the log filter keeps this logger's survey links


class ConsoleChannel:
    name = "console"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        # Survey id and link only: customer e-mail addresses never go to logs.
        log.info(
            "[console] would send %s survey %d (ticket %s/%s, language %s): %s",
            survey.kind.upper(),
            survey.id,
            survey.connector,
            survey.ticket_id,
            survey.language,
            survey.survey_url,
        )
        return Delivered(self.name, survey.survey_url)
