"""The one lease primitive behind every queue of due work (surveys, outbox events, alerts, digest runs).

To *claim* is to lease due rows to one worker: a single UPDATE picks them (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint rows without waiting; on SQLite the
statement is atomic under the database write lock), stamps the holder and lease end and counts the
attempt. To *finish* is to write an outcome only while still holding the lease, so a slow worker
whose lease ran out cannot overwrite the work of the one that took over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Engine, Row, Table


@dataclass(frozen=True, slots=True)
class LeasedQueue:
    """A table whose rows are leased by `owner` until `until`, with an `attempts` counter.

    `owner` may be None for tables whose lease is only a time (the row is hidden from other claimers
    until `until` passes, and nobody else writes it meanwhile).
    """

    table: Table
    until: str = "lease_until"
    owner: str | None = "lease_owner"
    attempts: str | None = "attempts"

    def claim(
        self,
        engine: Engine,
        *,
        due: ColumnElement[bool],
        order_by: Sequence[Any],
        now: datetime,
        lease: timedelta,
        limit: int,
        holder: str | None = None,
        values: Mapping[str, Any] | None = None,
        returning: Sequence[Any] = (),
    ) -> list[Row[Any]]:
        """Lease up to `limit` rows matching `due` to `holder`; returns them (id order) with `returning`."""
        t = self.table
        pick = sa.select(t.c.id).where(due).order_by(*order_by).limit(limit)
        if engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stamp: dict[str, Any] = {self.until: now + lease, **(values or {})}
        if self.owner is not None:
            stamp[self.owner] = holder
        if self.attempts is not None:
            stamp[self.attempts] = t.c[self.attempts] + 1
        stmt = t.update().where(t.c.id.in_(pick.scalar_subquery())).values(stamp).returning(t.c.id, *returning)
        with engine.begin() as conn:
            return sorted(conn.execute(stmt).all(), key=lambda r: r.id)

    def renew(
        self,
        engine: Engine,
        ids: Sequence[int],
        holder: str,
        now: datetime,
        lease: timedelta,
        *,
        where: Sequence[ColumnElement[bool]] = (),
        **values: Any,
    ) -> set[int]:
        """Extend `holder`'s lease on `ids` (a heartbeat), writing `values` in the same UPDATE; returns
        the ids it still holds (and that match `where`)."""
        if self.owner is None:
            raise TypeError(f"{self.table.name}: a time-only lease has no holder to check")
        if not ids:
            return set()
        t = self.table
        stmt = (
            t.update()
            .where(t.c.id.in_(list(ids)), t.c[self.owner] == holder, *where)
            .values({self.until: now + lease, **values})
            .returning(t.c.id)
        )
        with engine.begin() as conn:
            return set(conn.execute(stmt).scalars())

    def finish(
        self, engine: Engine, row_id: int, holder: str, *, where: Sequence[ColumnElement[bool]] = (), **values: Any
    ) -> bool:
        """Write an outcome and release the lease, only while `holder` still holds it."""
        if self.owner is None:
            raise TypeError(f"{self.table.name}: a time-only lease has no holder to check")
        t = self.table
        stmt = (
            t.update()
            .where(t.c.id == row_id, t.c[self.owner] == holder, *where)
            .values({self.owner: None, self.until: None, **values})
        )
        with engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1


def expired(table: Table, now: datetime, until: str = "lease_until") -> ColumnElement[bool]:
    """Rows whose holder died mid-work: their lease ran out without an outcome."""
    return table.c[until] < now
