"""Keeps a batch's leases alive while its surveys are being delivered.

A channel may wait inside a call (a rate limit's Retry-After, a slow API) for longer than the lease;
without a heartbeat another worker would claim the same surveys and the customer would get the
survey twice. The heartbeat renews, every third of the lease, the leases of the surveys of the
batch not finished yet; the worker also checks it still holds a survey right before delivering it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

log = logging.getLogger(__name__)
Renew = Callable[[list[int], datetime, timedelta], set[int]]


class Heartbeat:
    def __init__(self, ids: list[int], renew: Renew, now: Callable[[], datetime], lease: timedelta) -> None:
        self._pending = set(ids)
        self._renew = renew
        self._now = now
        self._lease = lease
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def done(self, survey_id: int) -> None:
        with self._lock:
            self._pending.discard(survey_id)

    def _run(self) -> None:
        interval = max(0.05, self._lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            with self._lock:
                ids = sorted(self._pending)
            if not ids:
                continue
            try:
                held = self._renew(ids, self._now(), self._lease)
            except Exception:  # a database blip: try again next beat; the lease still has 2/3 left
                log.warning("lease heartbeat failed; retrying", exc_info=True)
                continue
            if lost := set(ids) - held:
                log.warning("lost the lease on surveys %s: another worker took them over", sorted(lost))

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
