"""What every listener shares: run sync services off the event loop, answer the clicker, show an answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.api import AsyncSlackApi, error_code
from integrations.slack.blocks.survey import answered_message
from integrations.slack.services.alerts import AlertService
from integrations.slack.services.surveys import CHANNEL, SurveyAnswers
from nps_bot.models import Answer

log = logging.getLogger(__name__)
T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Services are sync (SQLAlchemy Core, WebClient): run them in a worker thread."""
    return await asyncio.to_thread(fn, *args)


def clicked_in(body: dict[str, Any]) -> str | None:
    """The conversation an interaction came from, if it came from one."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """A message only the person who clicked sees, where they clicked."""
    channel = clicked_in(body)
    if channel:
        await AsyncSlackApi(client).ephemeral(channel, body["user"]["id"], text)


async def open_view(client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any], what: str) -> None:
    """Open a modal; the trigger lives 3 s and a slow click can outlive it, which is only logged."""
    try:
        await AsyncSlackApi(client).open_view(body["trigger_id"], view)
    except SlackApiError as exc:
        log.info("%s not opened: %s", what, error_code(exc))


async def answer_taken(client: AsyncWebClient, surveys: SurveyAnswers, company: str, answer: Answer) -> None:
    """Rewrite the survey DM to show the answer, then tell the other listeners about it."""
    ref = answer.survey
    if ref.delivery_channel == CHANNEL and ref.delivery_ref:
        text, blocks = answered_message(answer, company)
        try:
            await AsyncSlackApi(client).update(ref.delivery_ref, text, blocks)
        except SlackApiError as exc:
            log.warning("survey %d: could not update the message: %s", ref.id, error_code(exc))
    await in_thread(surveys.notify, answer)


class AnswerListeners:
    """Listeners for survey answers and alert follow-ups (actions and views share these services)."""

    def __init__(self, surveys: SurveyAnswers, alerts: AlertService, company: str) -> None:
        self.surveys = surveys
        self.alerts = alerts
        self.company = company
