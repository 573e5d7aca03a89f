"""When to try again after a failure that may pass (rate limit, outage): one schedule for every queue."""

from __future__ import annotations

from datetime import timedelta

MAX_BACKOFF = timedelta(hours=6)


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h; a server's Retry-After wins when it asks for longer."""
    delay = timedelta(seconds=30 * 2 ** max(0, attempt - 1))
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, MAX_BACKOFF)
