"""The /nps slash command: acknowledge within Slack's 3 s, answer from services.commands."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk import WebClient

from integrations.slack.api import SlackApi
from integrations.slack.listeners.base import in_thread
from integrations.slack.services import commands
from nps_bot.plugin.ports import Host

log = logging.getLogger(__name__)


class Commands:
    def __init__(self, ctx: Host, client: WebClient, admins: frozenset[str]) -> None:
        self.ctx = ctx
        self.slack = SlackApi(client)
        self.admins = admins

    async def nps(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        text = command.get("text", "")
        name = (text.split() or [""])[0]
        inv = commands.Invocation(self.ctx, self.slack, command["user_id"], command["channel_id"], self.admins)
        slow = name.lower() in commands.SLOW
        if slow:
            if no := await in_thread(commands.refusal, inv, text):
                await ack(**no.as_ack())
                return
            await ack(text="Working on it…", response_type="ephemeral")
        try:
            reply = await in_thread(commands.handle, inv, text)
        except Exception:
            log.exception("/nps %s failed", name)
            reply = commands.usage("something went wrong on our side; the error is in the service log")
        if not slow:
            await ack(**reply.as_ack())
            return
        # response_url works in any channel the command came from, member or not.
        await respond(**reply.as_ack())
