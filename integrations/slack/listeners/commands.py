"""The /nps slash command: acknowledge within Slack's 3 s, answer from services.commands."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk import WebClient

from integrations.slack.api import SlackApi
from integrations.slack.listeners.base import in_thread
from integrations.slack.services import commands
from nps_bot.plugin.ports import Host

log = logging.getLogger(__name__)


WORKING = "Working on it…"
# Slack wants the acknowledgement within 3 s of its request; what is not ready after this many
# seconds goes to response_url instead (the rest of the 3 s covers network and Bolt).
INLINE_WAIT = 2.0


class Commands:
    inline_wait = INLINE_WAIT

    def __init__(self, ctx: Host, client: WebClient, admins: frozenset[str]) -> None:
        self.ctx = ctx
        self.slack = SlackApi(client)
        self.admins = admins

    async def nps(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        text = command.get("text", "")
        name = (text.split() or [""])[0]
        inv = commands.Invocation(self.ctx, self.slack, command["user_id"], command["channel_id"], self.admins)
        if name.lower() in commands.SLOW:  # known to be slow: the polite no, or "working on it", at once
            if no := await in_thread(commands.refusal, inv, text):
                await ack(**no.as_ack())
                return
            await ack(text=WORKING, response_type="ephemeral")
            await respond(**(await self._answer(inv, name, text)).as_ack())
            return
        # Most replies are ready in milliseconds and go in the acknowledgement; one that is not ready
        # in time (a large report, a slow database) is acknowledged and then sent to response_url,
        # so Slack never shows "operation_timeout".
        answer = asyncio.ensure_future(self._answer(inv, name, text))
        done, _ = await asyncio.wait({answer}, timeout=self.inline_wait)
        if answer in done:
            await ack(**answer.result().as_ack())
            return
        await ack(text=WORKING, response_type="ephemeral")
        # response_url works in any channel the command came from, member or not.
        await respond(**(await answer).as_ack())

    async def _answer(self, inv: commands.Invocation, name: str, text: str) -> commands.Reply:
        try:
            return await in_thread(commands.handle, inv, text)
        except Exception:
            log.exception("/nps %s failed", name)
            return commands.usage("something went wrong on our side; the error is in the service log")
