"""The Bolt app: survey buttons, the "why" modal, DM replies, and the /nps command.

Listeners ack first (Slack's 3 s limit), then do the short database write in a thread, then
update Slack. Database calls are sync (SQLAlchemy Core) and run via asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack import commands
from integrations.slack.alerts import register_alert_handlers
from integrations.slack.blocks import (
    COMMENT_ACTION,
    COMMENT_BLOCK,
    COMMENT_VIEW,
    SCORE_ACTION_PREFIX,
    answered_message,
    comment_modal,
)
from integrations.slack.chat_answers import ChatAnswers
from integrations.slack.home import register_home
from nps_bot.models import Answer
from nps_bot.plugin.ports import Host
from nps_bot.surveys.service import SurveyError

log = logging.getLogger(__name__)


def build_bolt_app(
    ctx: Host, client: AsyncWebClient, signing_secret: str, sync_client: WebClient, admins: frozenset[str]
) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)
    company = ctx.settings.company_name
    chat_answers = ChatAnswers(ctx)

    async def refresh_message(client: AsyncWebClient, answer: Answer) -> None:
        ref = answer.survey
        if ref.delivery_channel != "slack" or not ref.delivery_ref:
            return
        channel, _, ts = ref.delivery_ref.partition(":")
        text, blocks = answered_message(answer, company)
        try:
            await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("survey %d: could not update the message: %s", ref.id, exc.response.get("error"))

    async def notify(answer: Answer) -> None:
        await asyncio.to_thread(ctx.notify_answer, answer)

    async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if channel:
            await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)

    @app.action(re.compile(rf"^{SCORE_ACTION_PREFIX}\d+$"))
    async def on_score(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        token, _, raw = str(action.get("value", "")).rpartition(":")
        try:
            answer = await asyncio.to_thread(
                ctx.surveys.record_score, token, int(raw), source="slack", responder=body["user"]["id"]
            )
        except (SurveyError, ValueError) as exc:
            await tell(client, body, f":warning: {exc}")
            return
        if answer.previous_score is None and body.get("trigger_id"):
            # First answer: ask "why" straight away while the trigger is fresh (it lives 3 s).
            try:
                await client.views_open(trigger_id=body["trigger_id"], view=comment_modal(answer))
            except SlackApiError as exc:
                log.info("survey %d: comment modal not opened: %s", answer.survey.id, exc.response.get("error"))
        await refresh_message(client, answer)
        await notify(answer)

    @app.action(COMMENT_ACTION)
    async def on_comment_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        try:
            answer = await asyncio.to_thread(chat_answers.current, str(action.get("value", "")))
        except SurveyError as exc:
            await tell(client, body, f":warning: {exc}")
            return
        await client.views_open(trigger_id=body["trigger_id"], view=comment_modal(answer))

    @app.view(COMMENT_VIEW)
    async def on_comment(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        token = view.get("private_metadata", "")
        value = view["state"]["values"].get(COMMENT_BLOCK, {}).get(COMMENT_BLOCK, {}).get("value") or ""
        try:
            answer = await asyncio.to_thread(ctx.surveys.record_comment, token, value, responder=body["user"]["id"])
        except SurveyError as exc:
            await ack(response_action="errors", errors={COMMENT_BLOCK: str(exc)})
            return
        await ack()
        await refresh_message(client, answer)
        await notify(answer)

    @app.event("message")
    async def on_dm(event: dict[str, Any], client: AsyncWebClient) -> None:
        # Customers often just type: a number answers the survey, other text becomes the comment.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        reply = await asyncio.to_thread(
            chat_answers.take, event["channel"], event.get("user", ""), event.get("text", "")
        )
        if reply is None:
            return
        answer, text = reply
        await client.chat_postMessage(channel=event["channel"], text=text, thread_ts=event.get("thread_ts"))
        await refresh_message(client, answer)
        await notify(answer)

    @app.command("/nps")
    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        text = command.get("text", "")
        inv = commands.Invocation(ctx, sync_client, command["user_id"], command["channel_id"], admins)
        slow = (text.split() or [""])[0].lower() in commands.SLOW
        if slow:
            if no := await asyncio.to_thread(commands.refusal, inv, text):
                await ack(**no.as_ack())
                return
            await ack(text="Working on it…", response_type="ephemeral")
        try:
            reply = await asyncio.to_thread(commands.handle, inv, text)
        except Exception:
            log.exception("/nps %s failed", (text.split() or [""])[0])
            reply = commands.usage("something went wrong on our side; the error is in the service log")
        if not slow:
            await ack(**reply.as_ack())
            return
        # response_url works in any channel the command came from, member or not.
        await respond(**reply.as_ack())

    register_alert_handlers(app, ctx, sync_client)
    register_home(app, ctx)
    return app
