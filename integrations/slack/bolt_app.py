"""The Bolt app: which Slack command, button, modal and event goes to which listener.

Listeners live in integrations.slack.listeners; they ack first (Slack's 3 s limit), run the sync
services in a thread, then update Slack.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks.alerts import CLAIM_ACTION, OUTCOME_VIEW, RESOLVE_ACTION
from integrations.slack.blocks.survey import COMMENT_ACTION, COMMENT_VIEW, SCORE_ACTION_PREFIX
from integrations.slack.listeners import Listeners
from nps_bot.plugin.ports import Host

SCORE_ACTIONS = re.compile(rf"^{SCORE_ACTION_PREFIX}\d+$")
Route = tuple[str, str | re.Pattern[str], Callable[..., Any]]


def routes(on: Listeners) -> list[Route]:
    """(Bolt registration method, what it matches, listener) for commands, actions and views."""
    return [
        ("command", "/nps", on.commands.nps),
        ("action", SCORE_ACTIONS, on.actions.score),
        ("action", COMMENT_ACTION, on.actions.comment),
        ("action", CLAIM_ACTION, on.actions.claim),
        ("action", RESOLVE_ACTION, on.actions.resolve),
        ("view", COMMENT_VIEW, on.views.comment),
        ("view", OUTCOME_VIEW, on.views.outcome),
    ]


class _WithoutTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN by itself and, since we hand it a client built with that token,
    warns on every start that the token "will be unused": true, expected, and noise in our logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _quiet_token_notice() -> None:
    logger = logging.getLogger("slack_bolt.AsyncApp")  # Bolt's own framework logger for AsyncApp
    if not any(isinstance(f, _WithoutTokenNotice) for f in logger.filters):
        logger.addFilter(_WithoutTokenNotice())


def build_bolt_app(
    ctx: Host,
    client: AsyncWebClient,
    signing_secret: str,
    sync_client: WebClient,
    admins: frozenset[str],
    home_people: str = "admins",
) -> AsyncApp:
    _quiet_token_notice()
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    on = Listeners.create(ctx, sync_client, admins, home_people)
    for method, matcher, listener in routes(on):
        getattr(app, method)(matcher)(listener)

    # Events are spelled as decorators: tests/test_manifest.py matches them to the manifest's bot_events.
    @app.event("message")
    async def message(event: dict[str, Any], client: AsyncWebClient) -> None:
        await on.events.message(event, client)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        await on.events.home_opened(event, client)

    return app
