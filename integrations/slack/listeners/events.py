"""Events: text typed into the survey DM, and the App Home tab being opened."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.api import AsyncSlackApi, SlackApi, error_code
from integrations.slack.blocks.home import home_view
from integrations.slack.listeners.base import answer_taken, in_thread
from integrations.slack.services import PLATFORM
from integrations.slack.services.home import home_data
from integrations.slack.services.permissions import is_admin
from integrations.slack.services.surveys import SurveyAnswers
from nps_bot.plugin.ports import Host

log = logging.getLogger(__name__)


class Events:
    def __init__(
        self, ctx: Host, surveys: SurveyAnswers, slack: SlackApi, admins: frozenset[str], home_people: str
    ) -> None:
        self.ctx = ctx
        self.surveys = surveys
        self.slack = slack
        self.admins = admins
        self.everyone_sees_people = home_people == "everyone"

    async def message(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        # Customers often just type: a number answers the survey, other text becomes the comment.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        reply = await in_thread(self.surveys.from_chat, event["channel"], event.get("user", ""), event.get("text", ""))
        if reply is None:
            return
        answer, text = reply
        await AsyncSlackApi(client).reply(event["channel"], text, event.get("thread_ts"))
        await answer_taken(client, self.surveys, self.ctx.settings.company_name, answer)

    async def home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        people = self.everyone_sees_people or await in_thread(is_admin, self.slack, user, self.admins)
        view = home_view(await in_thread(home_data, self.ctx, PLATFORM, people))
        try:
            await AsyncSlackApi(client).publish_home(user, view)
        except SlackApiError as exc:
            log.warning("App Home not published: %s", error_code(exc))
