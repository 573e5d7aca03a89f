"""Slack's rate limits, enforced when a test asks for them (``fake.enforce_limits(...)``): a token bucket per
method (and per channel for chat.postMessage), answered with HTTP 429 and ``Retry-After`` when empty.

Slack does not publish its algorithm; a bucket of ``burst`` calls refilled at ``per_minute`` is the usual
reading of "50+ per minute, sporadic bursts welcome". While a Retry-After it announced runs, every call to that
method is refused again (and counted in ``refused_inside_window``: a well-behaved client makes none).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

#: Slack's tiers for the methods nps-bot calls (docs.slack.dev/apis/web-api/rate-limits): (per minute, burst).
SLACK_TIERS: dict[str, tuple[float, int]] = {
    "users.lookupByEmail": (50, 5),
    "users.info": (100, 10),
    "conversations.open": (50, 5),
    "conversations.info": (50, 5),
    "conversations.history": (50, 5),
    "chat.update": (50, 5),
    "chat.postMessage": (300, 10),
}
#: chat.postMessage to one channel: about one a second, short bursts allowed.
SLACK_PER_CHANNEL = (60.0, 3)


@dataclass
class Bucket:
    per_second: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a call may go (a token is taken), else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


class RateLimits:
    def __init__(
        self,
        methods: dict[str, tuple[float, int]],
        per_channel: tuple[float, int] | None = None,
        retry_after: str | None = None,
    ) -> None:
        self.methods = dict(methods)
        self.per_channel = per_channel
        self.retry_after = retry_after  # sent verbatim when set; else the whole seconds until a token is back
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}
        self._window_until: dict[str, float] = {}
        #: Calls that arrived while a Retry-After announced for their method was still running.
        self.refused_inside_window: list[tuple[str, float]] = []

    def check(self, method: str, channel: str | None) -> str | None:
        """None when the call may go, else the Retry-After value to answer with."""
        now = time.monotonic()
        with self._lock:
            until = self._window_until.get(method, 0.0)
            if now < until:
                self.refused_inside_window.append((method, now))
                return str(math.ceil(until - now))
            keys = []
            if method in self.methods:
                keys.append((method, self.methods[method]))
            if method == "chat.postMessage" and channel and self.per_channel:
                keys.append((f"{method}:{channel}", self.per_channel))
            for key, (per_minute, burst) in keys:
                bucket = self._buckets.setdefault(key, Bucket(per_minute / 60, burst, burst, now))
                wait = bucket.take(now)
                if wait > 0:
                    header = self.retry_after or str(max(1, math.ceil(wait)))
                    self._window_until[method] = now + _seconds(header)
                    return header
        return None


def _seconds(header: str) -> float:
    try:
        value = float(header)
    except ValueError:
        return 1.0
    return value if math.isfinite(value) and value >= 0 else 1.0
