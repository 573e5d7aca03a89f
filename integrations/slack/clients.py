"""Slack Web API clients with one pacing policy for the whole service.

Every call of the sync client (the worker: survey DMs, digests, alerts) first takes a slot of its
method's Slack tier from the host's shared API limits, so all workers in all processes together keep
to it. A 429 pauses that method for every worker (Retry-After, read leniently: "4", "4.0", an HTTP
date; garbage reads as a default instead of crashing slack_sdk's own handler); a short pause is
waited out inside the call, a long one is handed back to the caller (who reschedules). 5xx and
dropped connections are retried a couple of times with backoff, except for calls that post: Slack
may have posted before the answer was lost, so those go back to the caller, whose next attempt
looks for the message before posting again (integrations/slack/delivery.py).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.slack_response import SlackResponse

from integrations.slack.pacing import PER_CHANNEL, limit_key, paces
from integrations.slack.settings import SlackSettings
from nps_bot.plugin.ports import ApiLimits, RateLimited

RETRIES = 2
DEFAULT_RETRY_AFTER = 1.0  # what slack_sdk assumes without the header
MAX_RETRY_AFTER = 3600.0  # an absurd header must not park a method for days


def header_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """The Retry-After header in seconds (values may come as lists), or None without one.

    Read leniently: seconds as an integer or a decimal, or an HTTP date; anything else (or a negative
    or non-finite number) is DEFAULT_RETRY_AFTER, and values are capped at MAX_RETRY_AFTER.
    """
    for name, values in (headers or {}).items():
        if name.lower() == "retry-after" and values:
            value = str(values[0] if isinstance(values, list | tuple) else values).strip()
            return min(_seconds(value), MAX_RETRY_AFTER)
    return None


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_RETRY_AFTER


def retry_after_of(response: HttpResponse | None) -> float:
    wait = header_seconds(response.headers) if response is not None else None
    return DEFAULT_RETRY_AFTER if wait is None else wait


def method_of(url: str) -> str:
    """The method name ("chat.postMessage") of a Web API URL."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class Pacer:
    """Takes a call slot for a Web API method from the shared limits; a wait longer than `max_wait`
    surfaces as the 429 Slack would have answered, so callers handle both the same way."""

    def __init__(self, limits: ApiLimits, settings: SlackSettings) -> None:
        self.limits = limits
        self.max_wait = settings.max_inline_wait
        self.paces, self.per_channel = paces(settings.rates, settings.channel_posts_per_minute)

    def before(self, client: WebClient, method: str, channel: str | None = None) -> None:
        try:
            self.limits.acquire(limit_key(method), self.paces.get(method), self.max_wait)
            if method == PER_CHANNEL and channel:
                # A named channel (C…, G…: digests, alerts) is shared by every worker and there are few:
                # paced through the database. A DM (D…, or a user id) is one customer's: paced in this
                # process, without a row for each customer.
                key = f"{limit_key(method)}:{channel}"
                self.limits.acquire(key, self.per_channel, self.max_wait, shared=channel[:1] in ("C", "G"))
        except RateLimited as exc:
            raise SlackApiError(f"{method} is rate limited", _rate_limited(client, method, exc.retry_after)) from None

    def rate_limited(self, method: str, seconds: float) -> None:
        self.limits.pause(limit_key(method), seconds)


def _rate_limited(client: WebClient, method: str, seconds: float) -> SlackResponse:
    return SlackResponse(
        client=client,
        http_verb="POST",
        api_url=f"{client.base_url}{method}",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": [f"{math.ceil(seconds)}"]},
        status_code=429,
    )


class PacedWebClient(WebClient):
    """A WebClient whose every call waits for its method's slot (and any pause) first."""

    def __init__(self, pacer: Pacer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    def api_call(self, api_method: str, **call: Any) -> SlackResponse:  # type: ignore[override]
        args = call.get("json") or call.get("params") or call.get("data") or {}
        channel = args.get("channel") if isinstance(args, dict) else None
        self.pacer.before(self, method_of(api_method), str(channel) if channel else None)
        return super().api_call(api_method, **call)


# slack_sdk calls these with keywords only (state, request, response, error).
class SharedRateLimitRetryHandler(RetryHandler):
    """On a 429: pause the method for every worker, then retry once the pause is over if it is short."""

    def __init__(self, pacer: Pacer, client: WebClient, max_retry_count: int = RETRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer
        self.client = client

    def can_retry(  # type: ignore[override]  # the rest of slack_sdk's keywords are not needed
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, **_: Any
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_of(response)
        self.pacer.rate_limited(method_of(request.url), wait)  # also when we will not retry ourselves
        return state.current_attempt < self.max_retry_count and wait <= self.pacer.max_wait

    def prepare_for_next_attempt(  # type: ignore[override]
        self, *, state: RetryState, request: HttpRequest, **_: Any
    ) -> None:
        state.next_attempt_requested = True
        self.pacer.before(self.client, method_of(request.url))  # sleeps out the pause, takes a slot
        state.increment_current_attempt()


class AsyncLenientRateLimitRetryHandler(AsyncRetryHandler):
    """Bolt listeners' client: waits out a short 429 (Retry-After read leniently), hands back a long one."""

    def __init__(self, max_wait: float, max_retry_count: int = RETRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(  # type: ignore[override]
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, **_: Any
    ) -> bool:
        return response is not None and response.status_code == 429 and retry_after_of(response) <= self.max_wait

    async def prepare_for_next_attempt_async(  # type: ignore[override]
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, **_: Any
    ) -> None:
        state.next_attempt_requested = True
        await asyncio.sleep(retry_after_of(response) + random.random() / 10)
        state.increment_current_attempt()


# Calls that are not safe to repeat blindly: the message may be in Slack already.
POSTS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "files.completeUploadExternal"})


class RepeatableConnectionErrorRetryHandler(ConnectionErrorRetryHandler):
    """slack_sdk's dropped-connection retry, for every method but the posting ones."""

    def _can_retry(self, *, request: HttpRequest, **kwargs: Any) -> bool:  # type: ignore[override]
        return method_of(request.url) not in POSTS and super()._can_retry(request=request, **kwargs)


class RepeatableServerErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's 500/503 retry, for every method but the posting ones."""

    def _can_retry(self, *, request: HttpRequest, **kwargs: Any) -> bool:  # type: ignore[override]
        return method_of(request.url) not in POSTS and super()._can_retry(request=request, **kwargs)


def _connection(settings: SlackSettings) -> dict[str, Any]:
    return {"token": settings.bot_token, "base_url": settings.api_url, "timeout": int(settings.timeout)}


def web_client(settings: SlackSettings, limits: ApiLimits) -> PacedWebClient:
    client = PacedWebClient(Pacer(limits, settings), **_connection(settings))
    client.retry_handlers = [
        RepeatableConnectionErrorRetryHandler(max_retry_count=RETRIES),
        SharedRateLimitRetryHandler(client.pacer, client),
        RepeatableServerErrorRetryHandler(max_retry_count=RETRIES),
    ]
    return client


def async_web_client(settings: SlackSettings) -> AsyncWebClient:
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=RETRIES),
        AsyncLenientRateLimitRetryHandler(settings.max_inline_wait),
        AsyncServerErrorRetryHandler(max_retry_count=RETRIES),
    ]
    return AsyncWebClient(**_connection(settings), retry_handlers=handlers)
