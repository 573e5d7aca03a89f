"""When to try again after a failure that may pass (rate limit, outage): one schedule for every queue."""

from __future__ import annotations

from datetime import timedelta

MAX_BACKOFF = timedelta(hours=6)
# 30 s * 2**10 is already past MAX_BACKOFF; a larger exponent would only overflow timedelta.
_MAX_DOUBLINGS = 10


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h; a server's Retry-After wins when it asks for longer (up to the cap)."""
    seconds = 30.0 * 2 ** min(max(0, attempt - 1), _MAX_DOUBLINGS)
    if retry_after:
        seconds = max(seconds, retry_after)  # NaN loses this comparison; infinity is capped below
    return timedelta(seconds=min(seconds, MAX_BACKOFF.total_seconds()))
