"""Outbound HTTP to vendor APIs: timeouts, bounded retries with tenacity, honest failure modes.

Connectors call `send()` and get the response back, or one of the worker's exceptions:
DeliveryRetry (429 / 5xx / timeout: try again later, with the server's Retry-After when it gave
one) or DeliveryUnavailable (4xx: this request will never work as it is).
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from datetime import UTC
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from nps_bot.logs import redact
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Longest Retry-After honoured inside one call; longer waits go back to the worker's schedule.
MAX_INLINE_WAIT = 5.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Between tries when the server gives no Retry-After: 0.5 s, 1 s, 2 s... (at most 4 s) plus jitter.
backoff = wait_exponential(multiplier=0.5, max=4.0) + wait_random(0, 0.25)


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's Retry-After in seconds (delay or HTTP-date), or None when absent or unreadable: a
    vendor's odd value ("soon", "inf") must not turn a plain retry into an error of our own."""
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        # An HTTP-date is GMT; "-0000" parses without a zone, which .timestamp() would read as local time.
        seconds = parsed.replace(tzinfo=parsed.tzinfo or UTC).timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _should_retry(exc: BaseException) -> bool:
    if isinstance(exc, _RetryableStatus):
        wait = retry_after_seconds(exc.response)
        return wait is None or wait <= MAX_INLINE_WAIT
    return isinstance(exc, httpx.TransportError)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _RetryableStatus) and (wait := retry_after_seconds(exc.response)) is not None:
        return wait
    return backoff(state)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    attempts: int = 3,
    **kwargs: Any,
) -> httpx.Response:
    """Make one API call with retries; `what` names it in errors (e.g. "zendesk comment")."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=_wait,
        retry=retry_if_exception(_should_retry),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                response = client.request(method, url, **kwargs)
                if response.status_code in RETRY_STATUSES:
                    raise _RetryableStatus(response)
    except _RetryableStatus as exc:
        raise DeliveryRetry(f"{what}: HTTP {exc.response.status_code}", retry_after_seconds(exc.response)) from None
    except httpx.TimeoutException:
        raise DeliveryRetry(f"{what}: timed out") from None
    except httpx.TransportError as exc:
        raise DeliveryRetry(f"{what}: {type(exc).__name__}") from None
    if response.status_code >= 400:
        # 401/403/404/422: credentials, permissions or a ticket that is gone; retrying will not help.
        # The vendor's words help the admin, but may echo what we sent (the customer's address, the survey
        # link): the reason is also stored with the survey, where no log filter reaches.
        raise DeliveryUnavailable(f"{what}: HTTP {response.status_code} {redact(response.text[:200])}")
    return response


def new_client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False, **kwargs)


_LAZY_LOCK = threading.Lock()


class LazyClient:
    """A class attribute that gives each connector one httpx.Client, made on first use.

    Connectors are built at start-up and most never call out; worker threads share the client.
    Assigning to the attribute injects a client (tests, custom transports).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_lazy_{name}"

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        with _LAZY_LOCK:
            client = obj.__dict__.get(self.slot)
            if client is None:
                client = obj.__dict__[self.slot] = new_client()
            return client

    def __set__(self, obj: object, value: httpx.Client | None) -> None:
        obj.__dict__[self.slot] = value


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it has none: vendors answer some calls with an empty
    body or HTML, and each caller decides whether a missing field is an error."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
