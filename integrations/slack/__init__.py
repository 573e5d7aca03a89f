"""Slack: survey DMs with 0-10 buttons, answers and comments in chat, and the /nps command."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.request.internals import parse_body
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
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
from integrations.slack.socket_mode import SocketModeSupervisor
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
            self.client = web_client(settings, ctx.api_limits)  # paced by Slack's tiers, with every worker
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
        if not (self.configured and self.client):
            return []
        return [SlackDmChannel(self.client, self.ctx.chat_user_ids, self.ctx.clock, self.settings)]

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
                text = body.decode("utf-8")
            except UnicodeDecodeError:  # Bolt would fail decoding it: Slack only ever sends UTF-8
                return JSONResponse({"error": "body is not UTF-8"}, status_code=400)
            if not _well_formed_signature(request.headers):  # Bolt's verifier raises (500) on these
                return JSONResponse({"error": "missing or malformed Slack signature headers"}, status_code=401)
            # Bolt parses the body before it checks the signature (a 500 on unsigned junk such as "\x00" sent
            # as JSON): check it here first, so only Slack's own bodies reach Bolt's parser.
            if not _signed_by_slack(self.settings.signing_secret or "", text, request.headers):
                return JSONResponse({"error": "Slack signature does not match, or is stale"}, status_code=401)
            if not _readable_by_bolt(text, request.headers.get("content-type")):
                return JSONResponse({"error": "body is not a Slack payload"}, status_code=400)
            # Bolt reads the body again: hand it a request that replays what was read (within the limit).
            return await self.handler.handle(replayed(request, body))

        return [Route("/slack/events", events, methods=["POST"])]

    @functools.cached_property
    def socket_mode(self) -> SocketModeSupervisor | None:
        """Socket Mode's connection keeper when SLACK_APP_TOKEN is set (and Slack is on), else None."""
        if not (self.bolt and self.settings.app_token):
            return None
        return SocketModeSupervisor(self.bolt, self.settings.app_token, self.settings.api_url, self.settings.timeout)

    def preflight(self) -> None:
        if self.socket_mode is not None:
            self.socket_mode.preflight()  # StartupError on a refused app token: `serve` stops with one line

    def readiness(self) -> tuple[str, str, bool] | None:
        return self.socket_mode.readiness() if self.socket_mode is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # In the background: HTTP is served at once, and /readyz tells when Socket Mode is connected.
        if self.socket_mode is not None:
            self.socket_mode.start()
        try:
            yield
        finally:
            if self.socket_mode is not None:
                await self.socket_mode.stop()


def _well_formed_signature(headers: Mapping[str, str]) -> bool:
    """Slack's headers as Slack sends them: a unix-seconds timestamp and an ASCII `v0=` signature."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    return timestamp.isascii() and timestamp.isdigit() and signature.isascii() and signature.startswith("v0=")


def _signed_by_slack(secret: str, body: str, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature with the app's signing secret, at most 5 minutes old (as Bolt checks it)."""
    timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    return bool(secret) and SignatureVerifier(secret).is_valid(body, timestamp, signature)


def _readable_by_bolt(body: str, content_type: str | None) -> bool:
    """Bolt's own parsing of the body succeeds and gives an object (anything else raises inside Bolt)."""
    try:
        parsed = parse_body(body, (content_type or "").split(";")[0] or None)
    except ValueError:  # json.JSONDecodeError
        return False
    return isinstance(parsed, dict)


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
