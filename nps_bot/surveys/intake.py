"""The webhook intake queue: verified interactions stored by the web process, scheduled by workers.

The web process answers a webhook once its row is stored (store/intake.py). A worker takes the oldest
rows, schedules each interaction (`SurveyService.schedule_in`: policy, unique keys, the survey row)
and deletes the row in the same transaction, so a crash anywhere leaves the row to schedule again and
never a survey without its row gone. Workers on PostgreSQL skip rows another worker holds.

A row whose scheduling fails for a reason a retry cannot fix (a value the database refuses, a payload
this version cannot read) is marked failed and kept, with the error's type, for `nps-bot intake`;
the rest of the batch goes on. A database outage fails the whole batch, which waits for the next poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy import Connection

from nps_bot.models import Interaction, ScheduleOutcome
from nps_bot.store.schema import webhook_intake
from nps_bot.store.sql import OUTAGE, driver_savepoint, write_transaction
from nps_bot.surveys.service import SurveyService, log_outcome

log = logging.getLogger(__name__)
# Rows one transaction schedules: on SQLite it holds the write lock meanwhile (about 1 ms a row).
BATCH = 50
# Waiting longer than this means no worker is keeping up (a poll is 2 s): `serve` says so in its log.
STALE_AFTER = timedelta(minutes=5)
_INTERACTIONS = TypeAdapter(list[Interaction])
# /readyz counts the queue up to this many rows, so a probe stays cheap whatever the backlog.
GAUGE_LIMIT = 10_000


def encode(interactions: Sequence[Interaction], received_at: datetime) -> str:
    """The row's payload. Pydantic serialises the interactions in Rust, in one call: cheap on the event loop."""
    listed = _INTERACTIONS.dump_json(list(interactions)).decode()
    return f'{{"received_at":"{received_at.isoformat()}","interactions":{listed}}}'


def decode(payload: str) -> tuple[datetime, list[Interaction]]:
    data = json.loads(payload)
    received_at = datetime.fromisoformat(data["received_at"])
    return received_at, _INTERACTIONS.validate_python(data["interactions"])


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One interaction the drain scheduled (its outcome holds: the transaction committed)."""

    intake_id: int
    interaction: Interaction
    outcome: ScheduleOutcome


@dataclass(frozen=True, slots=True)
class IntakeStatus:
    pending: int
    failed: int
    errors: dict[str, int]  # error type -> failed rows


@dataclass(frozen=True, slots=True)
class IntakeGauge:
    """The queue as monitoring sees it (/readyz): counts stop at GAUGE_LIMIT."""

    waiting: int
    failed: int
    oldest_waiting_seconds: float | None  # None: nothing waits


class WebhookIntake:
    def __init__(self, service: SurveyService) -> None:
        self.service = service
        self.engine = service.engine

    def drain(self, limit: int = BATCH) -> list[Scheduled]:
        """Schedule up to `limit` of the oldest waiting rows in one transaction; what was scheduled."""
        return self._take(limit)[1]

    def drain_for(self, seconds: float | None = None, stop: threading.Event | None = None) -> list[Scheduled]:
        """Drain batch by batch until the queue is empty, `seconds` have passed or `stop` is set (with
        neither: until nothing is left waiting, as `nps-bot intake drain` does)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        everything: list[Scheduled] = []
        while not (stop and stop.is_set()):
            taken, scheduled = self._take(BATCH)
            everything.extend(scheduled)
            if taken < BATCH or (deadline is not None and time.monotonic() > deadline):
                break
        return everything

    def _take(self, limit: int) -> tuple[int, list[Scheduled]]:
        """(rows taken, what was scheduled): failed rows and multi-event rows make the two differ."""
        done: list[Scheduled] = []
        with write_transaction(self.engine) as conn:
            query = (
                sa.select(webhook_intake.c.id, webhook_intake.c.payload)
                .where(webhook_intake.c.failed_at.is_(None))
                .order_by(webhook_intake.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                done = self._schedule_rows(conn, [(int(r[0]), str(r[1])) for r in rows])
        for item in done:  # committed: now the outcome is true
            log_outcome(item.interaction, item.outcome)
        return len(rows), done

    def _schedule_rows(self, conn: Connection, rows: list[tuple[int, str]]) -> list[Scheduled]:
        """The whole batch under one savepoint, and one DELETE: a row's own savepoint and DELETE were
        three of its ten round trips on PostgreSQL. A row that fails undoes the batch, which is then
        scheduled row by row, so only that row is kept as failed."""
        try:
            with driver_savepoint(conn, "intake_batch"):
                scheduled = [item for intake_id, payload in rows for item in self._schedule(conn, intake_id, payload)]
        except OUTAGE:
            raise
        except Exception:  # some row failed: find it (below)
            return [item for intake_id, payload in rows for item in self._schedule_alone(conn, intake_id, payload)]
        conn.execute(webhook_intake.delete().where(webhook_intake.c.id.in_([intake_id for intake_id, _ in rows])))
        return scheduled

    def _schedule(self, conn: Connection, intake_id: int, payload: str) -> list[Scheduled]:
        received_at, interactions = decode(payload)
        return [Scheduled(intake_id, i, self.service.schedule_in(conn, i, received_at)) for i in interactions]

    def _schedule_alone(self, conn: Connection, intake_id: int, payload: str) -> list[Scheduled]:
        try:
            with driver_savepoint(conn, "intake_row"):
                scheduled = self._schedule(conn, intake_id, payload)
        except OUTAGE:
            raise
        except Exception as exc:
            # A row this version cannot schedule (a value the database refuses, a date that overflows, a
            # payload it cannot read, a bug): anything but an outage. Kept as failed, so one row never
            # blocks the queue.
            log.error("webhook intake row %d not scheduled (%s); kept as failed", intake_id, type(exc).__name__)
            conn.execute(
                webhook_intake.update()
                .where(webhook_intake.c.id == intake_id)
                .values(failed_at=self.service.clock.now(), error=type(exc).__name__[:255])
            )
            return []
        conn.execute(webhook_intake.delete().where(webhook_intake.c.id == intake_id))
        return scheduled

    def status(self) -> IntakeStatus:
        with self.engine.connect() as conn:
            pending = conn.scalar(
                sa.select(sa.func.count()).select_from(webhook_intake).where(webhook_intake.c.failed_at.is_(None))
            )
            errors = conn.execute(
                sa.select(webhook_intake.c.error, sa.func.count())
                .where(webhook_intake.c.failed_at.is_not(None))
                .group_by(webhook_intake.c.error)
            ).all()
        by_error = {str(error): int(n) for error, n in errors}
        return IntakeStatus(int(pending or 0), sum(by_error.values()), by_error)

    def gauge(self, now: datetime) -> IntakeGauge:
        """Waiting and failed rows (each count stops at GAUGE_LIMIT) and how long the oldest has waited."""
        with self.engine.connect() as conn:

            def capped(condition: sa.ColumnElement[bool]) -> int:
                rows = sa.select(sa.literal(1)).select_from(webhook_intake).where(condition).limit(GAUGE_LIMIT)
                return int(conn.scalar(sa.select(sa.func.count()).select_from(rows.subquery())) or 0)

            waiting = capped(webhook_intake.c.failed_at.is_(None))
            failed = capped(webhook_intake.c.failed_at.is_not(None))
        oldest = self.oldest_waiting() if waiting else None
        age = None if oldest is None else round(max(0.0, (now - oldest).total_seconds()), 1)
        return IntakeGauge(waiting, failed, age)

    def oldest_waiting(self) -> datetime | None:
        """When the oldest webhook still waiting arrived (None: nothing waits)."""
        with self.engine.connect() as conn:
            payload = conn.scalar(
                sa.select(webhook_intake.c.payload)
                .where(webhook_intake.c.failed_at.is_(None))
                .order_by(webhook_intake.c.id)
                .limit(1)
            )
        if payload is None:
            return None
        try:
            return datetime.fromisoformat(json.loads(payload)["received_at"])
        except (ValueError, KeyError, TypeError):
            return None  # a row the drain will mark failed

    def lag_warning(self, now: datetime) -> str | None:
        """A line for the log when webhooks wait longer than a worker should ever leave them."""
        oldest = self.oldest_waiting()
        if oldest is None or now - oldest < STALE_AFTER:
            return None
        minutes = int((now - oldest).total_seconds() // 60)
        return (
            f"webhooks have waited {minutes} min to be scheduled: is `nps-bot worker` running "
            "(or NPS_BOT_EMBEDDED_WORKER on)? `nps-bot intake` shows the queue"
        )

    def retry_failed(self) -> int:
        """Put failed rows back in the queue (after the fix they waited for); how many."""
        with self.engine.begin() as conn:
            result = conn.execute(
                webhook_intake.update()
                .where(webhook_intake.c.failed_at.is_not(None))
                .values(failed_at=None, error=None)
            )
        return int(result.rowcount or 0)
