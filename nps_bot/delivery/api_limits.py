"""Outbound API rate limits shared by every worker: one limiter per process in front of a budget kept
in the database (table `api_limits`), so any number of processes together keep to one vendor limit.

Pacing is GCRA: `next_slot_at` is when the next call is due at the steady rate, and a call may go up
to `burst - 1` intervals ahead of it. Each call reserves its slot in one short transaction (the row
is locked by an UPDATE first, on PostgreSQL and SQLite alike) and then sleeps until it. A 429 writes
`paused_until`, and no slot is handed out before it; a worker that slept for its slot looks again,
so a pause written meanwhile by another process still holds. Times are the wall clock (UTC), not the
service's clock: they are compared across processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.plugin.ports import Pace, RateLimited
from nps_bot.store.schema import api_limits
from nps_bot.store.sql import insert_ignore


def _utcnow() -> datetime:
    return datetime.now(UTC)


def next_slot(
    now: datetime, due: datetime | None, paused_until: datetime | None, pace: Pace | None
) -> tuple[datetime, datetime]:
    """(when this call may go, the new `next_slot_at`) under GCRA, after any pause."""
    start = max(now, paused_until) if paused_until else now
    if pace is None:
        return start, max(due or start, start)
    interval = timedelta(seconds=pace.interval)
    due = max(due or start, start)
    return max(start, due - interval * (pace.burst - 1)), due + interval


class ApiLimiter:
    """`ApiLimits` on the database; one per process (`AppContext.api_limits`), shared by its threads."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.now = now  # the wall clock: pauses and slots are compared across processes
        self._sleep = sleep
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._paused: dict[str, datetime] = {}  # pauses this process knows of: no database trip inside them
        self._local_due: dict[str, datetime] = {}

    def acquire(self, key: str, pace: Pace | None, max_wait: float, shared: bool = True) -> None:
        while True:
            now = self.now()
            known = self._paused.get(key)
            if known is not None and (known - now).total_seconds() > max_wait:
                raise RateLimited(key, (known - now).total_seconds())
            with self._lock(key):  # threads of this process queue here, not on the database row
                reserve = self._reserve if shared else self._reserve_local
                go_at = reserve(key, now, pace, max_wait)
            wait = (go_at - now).total_seconds()
            if wait > max_wait:
                raise RateLimited(key, wait)
            if wait <= 0:
                return
            self._sleep(wait)
            if not shared:
                return
            paused = self._paused_until(key)  # another process may have been told to back off meanwhile
            if paused is None or paused <= self.now():
                return

    def pause(self, key: str, seconds: float) -> None:
        until = self.now() + timedelta(seconds=max(0.0, seconds))
        with self._guard:
            if self._paused.get(key, until) <= until:
                self._paused[key] = until
        table = api_limits
        with self.engine.begin() as conn:
            self._ensure_row(conn, key)
            conn.execute(
                table.update()
                .where(table.c.key == key, sa.or_(table.c.paused_until.is_(None), table.c.paused_until < until))
                .values(paused_until=until, updated_at=self.now())
            )

    # ------------------------------------------------------------------ internals

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _reserve(self, key: str, now: datetime, pace: Pace | None, max_wait: float) -> datetime:
        """Take the next slot in the database; a slot further away than `max_wait` is not taken."""
        table = api_limits
        lock_row = (
            table.update()
            .where(table.c.key == key)
            .values(updated_at=now)
            .returning(table.c.paused_until, table.c.next_slot_at)
        )
        with self.engine.begin() as conn:
            row = conn.execute(lock_row).first()
            if row is None:
                self._ensure_row(conn, key)
                row = conn.execute(lock_row).one()
            go_at, due = next_slot(now, row.next_slot_at, row.paused_until, pace)
            self._remember_pause(key, row.paused_until, now)
            if (go_at - now).total_seconds() <= max_wait:
                conn.execute(table.update().where(table.c.key == key).values(next_slot_at=due))
        return go_at

    def _reserve_local(self, key: str, now: datetime, pace: Pace | None, max_wait: float) -> datetime:
        """Take the next slot of a key paced in this process only."""
        with self._guard:
            if len(self._local_due) > 1000:  # a slot in the past paces like no slot at all: forget those
                for stale in [k for k, d in self._local_due.items() if d <= now]:
                    del self._local_due[stale]
            go_at, due = next_slot(now, self._local_due.get(key), self._paused.get(key), pace)
            if (go_at - now).total_seconds() <= max_wait:
                self._local_due[key] = due
        return go_at

    def _paused_until(self, key: str) -> datetime | None:
        with self.engine.connect() as conn:
            paused = conn.execute(sa.select(api_limits.c.paused_until).where(api_limits.c.key == key)).scalar()
        self._remember_pause(key, paused, self.now())
        return paused

    def _remember_pause(self, key: str, paused: datetime | None, now: datetime) -> None:
        with self._guard:
            if paused is not None and paused > now:
                self._paused[key] = paused
            else:
                self._paused.pop(key, None)

    def _ensure_row(self, conn: Connection, key: str) -> None:
        insert_ignore(conn, api_limits, {"key": key, "updated_at": self.now()}, ["key"])
