"""Slack Web API clients with one pacing policy for the whole service.

Rate limits (HTTP 429) are waited out inside the call when Slack asks for a short pause, and
handed back to the caller (who reschedules) when it asks for a long one; 5xx and dropped
connections are retried a couple of times with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.settings import SlackSettings

RETRIES = 2


def header_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """The Retry-After header in seconds (header values may come as lists), or None."""
    for name, values in (headers or {}).items():
        if name.lower() == "retry-after" and values:
            value = values[0] if isinstance(values, list) else values
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _short_enough(response: HttpResponse | None, max_wait: float) -> bool:
    wait = header_seconds(response.headers) if response is not None else None
    return wait is None or wait <= max_wait


class _Bounded:
    """Retries a rate limit only when Slack asks for at most `max_wait` seconds."""

    def __init__(self, max_wait: float, max_retry_count: int = RETRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)  # type: ignore[call-arg]
        self.max_wait = max_wait


# slack_sdk calls these with keywords only (state, request, response, error): passed through as they are.
class BoundedRateLimitRetryHandler(_Bounded, RateLimitErrorRetryHandler):
    def _can_retry(self, **call: Any) -> bool:
        return super()._can_retry(**call) and _short_enough(call.get("response"), self.max_wait)


class AsyncBoundedRateLimitRetryHandler(_Bounded, AsyncRateLimitErrorRetryHandler):
    async def _can_retry_async(self, **call: Any) -> bool:
        return await super()._can_retry_async(**call) and _short_enough(call.get("response"), self.max_wait)


def sync_retry_handlers(settings: SlackSettings) -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=RETRIES),
        BoundedRateLimitRetryHandler(settings.max_inline_wait),
        ServerErrorRetryHandler(max_retry_count=RETRIES),
    ]


def async_retry_handlers(settings: SlackSettings) -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=RETRIES),
        AsyncBoundedRateLimitRetryHandler(settings.max_inline_wait),
        AsyncServerErrorRetryHandler(max_retry_count=RETRIES),
    ]


def _connection(settings: SlackSettings) -> dict[str, Any]:
    return {"token": settings.bot_token, "base_url": settings.api_url, "timeout": int(settings.timeout)}


def web_client(settings: SlackSettings) -> WebClient:
    return WebClient(**_connection(settings), retry_handlers=sync_retry_handlers(settings))


def async_web_client(settings: SlackSettings) -> AsyncWebClient:
    return AsyncWebClient(**_connection(settings), retry_handlers=async_retry_handlers(settings))
