"""Names for the ids vendors send: webhooks that carry only an agent id, a group id or a dropdown
option id are named through the vendor's API when the survey is delivered (`SurveyEnricher`), never
while the webhook waits for its answer.

`NameCache` holds what was looked up for `ttl` seconds, so each unknown id costs one API call: a name
found, or an id the vendor does not know (404: remembered as None), is not asked again until it
expires; a passing failure (timeout, 429, 5xx) is not remembered, so the next survey asks again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable, SurveyNames

__all__ = ["DEFAULT_TTL", "NameCache", "SurveyNames"]

DEFAULT_TTL = 3600.0


class NameCache:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._names: dict[tuple[str, str], tuple[float, str | None]] = {}
        # One lookup at a time: two workers meeting the same unknown id make one call, not two.
        self._lock = threading.RLock()

    def name(self, kind: str, key: str, lookup: Callable[[], str | None]) -> str | None:
        """The cached name of `kind` `key` ("group", "211"), calling `lookup` when unknown or expired."""
        with self._lock:
            now = self.clock()
            hit = self._names.get((kind, key))
            if hit and hit[0] > now:
                return hit[1]
            try:
                found = lookup()
            except DeliveryUnavailable:
                found = None  # gone or not ours to read: remembered, so it costs no call per survey
            except DeliveryRetry:
                return None
            self._names[(kind, key)] = (now + self.ttl, found)
            return found

    def remember(self, kind: str, key: str, name: str | None) -> None:
        """Store a name learnt on the way (one API answer that names several ids)."""
        with self._lock:
            self._names[(kind, key)] = (self.clock() + self.ttl, name)

    def clear(self) -> None:
        with self._lock:
            self._names.clear()
