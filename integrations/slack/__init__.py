"""Slack: survey DMs with 0-10 buttons, answers and comments in chat, and the /nps command."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk import WebClient
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from integrations.slack.bolt_app import build_bolt_app
from integrations.slack.clients import async_web_client, web_client
from integrations.slack.delivery import SlackDmChannel
from integrations.slack.services.alerts import AlertListener, AlertRetryJob
from integrations.slack.services.digests import DigestJob
from integrations.slack.settings import SlackSettings
from nps_bot.models import Answer
from nps_bot.plugin.ports import DeliveryChannel, Host, PeriodicJob
from nps_bot.plugin.requests import BodyTooLarge, read_limited

log = logging.getLogger(__name__)


class SlackIntegration:
    name = "slack"

    def __init__(self, ctx: Host, settings: SlackSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.configured = bool(settings.bot_token)
        self.bolt = None
        self.handler = None
        self.client: WebClient | None = None
        self.alerts: AlertListener | None = None
        self.jobs: list[PeriodicJob] = []
        if self.configured:
            # Socket Mode connections are not signed; over HTTP, Bolt checks the signing secret.
            secret = settings.signing_secret or ""
            if not secret and not settings.app_token:
                log.warning("SLACK_SIGNING_SECRET is not set: /slack/events will refuse every request")
            self.client = web_client(settings)
            admins = frozenset(settings.admins) | frozenset(ctx.settings.admins)
            self.alerts = AlertListener(ctx, self.client)
            # Built once: the worker asks for them on every poll.
            self.jobs = [DigestJob(ctx, self.client), AlertRetryJob(ctx, self.client)]
            bolt_client = async_web_client(settings)
            self.bolt = build_bolt_app(ctx, bolt_client, secret, self.client, admins, settings.home_people)
            self.handler = AsyncSlackRequestHandler(self.bolt)
        else:
            log.info("SLACK_BOT_TOKEN not set: Slack is off, surveys go to the console channel")

    def delivery_channels(self) -> Sequence[DeliveryChannel]:
        return [SlackDmChannel(self.client)] if self.configured else []

    def on_answer(self, answer: Answer) -> None:
        if self.alerts:
            self.alerts.on_answer(answer)

    def periodic_jobs(self) -> Sequence[PeriodicJob]:
        return self.jobs

    def routes(self) -> Sequence[BaseRoute]:
        async def events(request: Request) -> Response:
            if self.handler is None:
                return JSONResponse({"error": "Slack is not configured (SLACK_BOT_TOKEN)"}, status_code=503)
            limit = self.ctx.settings.max_body_bytes
            try:
                body = await read_limited(request, limit)
            except BodyTooLarge:
                return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
            except ClientDisconnect:
                return Response(status_code=400)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:  # Bolt would fail decoding it: Slack only ever sends UTF-8
                return JSONResponse({"error": "body is not UTF-8"}, status_code=400)
            if not _well_formed_signature(request.headers):  # Bolt's verifier raises (500) on these
                return JSONResponse({"error": "missing or malformed Slack signature headers"}, status_code=401)
            # Bolt reads the body again: hand it a request that replays what was read (within the limit).
            return await self.handler.handle(replayed(request, body))

        return [Route("/slack/events", events, methods=["POST"])]

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if not (self.bolt and self.settings.app_token):
            yield
            return
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(self.bolt, self.settings.app_token)
        await socket.connect_async()
        log.info("Slack Socket Mode connected")
        try:
            yield
        finally:
            await socket.close_async()


def _well_formed_signature(headers: Mapping[str, str]) -> bool:
    """Slack's headers as Slack sends them: a unix-seconds timestamp and an ASCII `v0=` signature."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    return timestamp.isascii() and timestamp.isdigit() and signature.isascii() and signature.startswith("v0=")


def replayed(request: Request, body: bytes) -> Request:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def create(ctx: Host) -> SlackIntegration:
    return SlackIntegration(ctx, SlackSettings())
