"""Storing verified webhooks from the event loop: the web process's hot path.

A webhook is answered 2xx once its row is in `webhook_intake` (committed); workers schedule it later
(surveys/intake.py). Writing here costs far less than scheduling, and neither writer hands the request
to a thread: the hand-off alone cost a third of the throughput on 2 cores (bench/PROFILE.md).

- `SqliteIntake`: group commit on the event loop. Rows that arrive in one turn of the loop go in one
  transaction. The loop must never wait for SQLite's lock, so this connection's busy_timeout is 0:
  when a worker holds the write lock, the row goes through the group-commit writer thread instead,
  which waits for the lock as every other writer does.
- `PostgresIntake`: psycopg's async connections (autocommit), at most PG_LANES batches in flight; the
  rows that arrive meanwhile gather into the next batch, one INSERT of a JSON array, one round trip.

Both raise `IntakeUnavailable` when the row was not stored (the request answers 503, never 2xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.store.group_commit import GroupCommitWriter, WriterClosed
from nps_bot.store.schema import webhook_intake

log = logging.getLogger(__name__)
Row = tuple[str, str]  # (connector, payload JSON)
# Batches in flight at once on PostgreSQL, one connection each: with one, the server waited on the
# round trip a fifth of the time (bench/PROFILE.md).
PG_LANES = 2
# A batch that takes longer than this fails (503, the help desk redelivers) rather than hang requests.
PG_BATCH_TIMEOUT_SECONDS = 10.0
_PG_INSERT = (
    "INSERT INTO webhook_intake (connector, payload) SELECT r->>0, r->>1 FROM json_array_elements(%s::json) AS r"
)
_SQLITE_INSERT = "INSERT INTO webhook_intake (connector, payload) VALUES (?, ?)"


class IntakeUnavailable(Exception):
    """The database did not take the webhook: nothing was stored."""


class IntakeWriter(Protocol):
    async def store(self, row: Row) -> None: ...

    async def aclose(self) -> None: ...


def insert_rows(conn: Connection, rows: list[Row]) -> None:
    """The same INSERT through SQLAlchemy, inside the caller's transaction (writer thread, tests)."""
    conn.execute(webhook_intake.insert(), [{"connector": c, "payload": p} for c, p in rows])


class SqliteIntake:
    def __init__(self, engine: Engine, fallback: GroupCommitWriter) -> None:
        self.fallback = fallback
        self._pending: list[tuple[Row, asyncio.Future[bool]]] = []
        self._pooled: Any = None
        self._conn: Any = None
        if engine.url.database not in (None, "", ":memory:"):  # a memory database has one connection
            self._pooled = engine.raw_connection()  # held for the app's life: pragmas as every connection
            self._conn = self._pooled.driver_connection
            self._conn.execute("PRAGMA busy_timeout=0")

    async def store(self, row: Row) -> None:
        if self._conn is None:
            return await self._through_writer(row)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append((row, done))
        if len(self._pending) == 1:  # the first row of this turn schedules the commit after the turn
            loop.call_soon(self._flush)
        if not await done:  # the database was busy: wait for the lock on the writer thread
            await self._through_writer(row)

    async def _through_writer(self, row: Row) -> None:
        try:
            await asyncio.wrap_future(self.fallback.submit(functools.partial(insert_rows, rows=[row])))
        except (sa.exc.SQLAlchemyError, WriterClosed) as exc:  # refused or unreachable: not stored
            raise IntakeUnavailable(type(exc).__name__) from exc

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked by another writer: never wait on the loop
            _settle(batch, False)
            return
        except Exception as exc:  # a connection that cannot be used (closed): not stored
            _settle(batch, IntakeUnavailable(type(exc).__name__))
            return
        try:
            conn.executemany(_SQLITE_INSERT, [row for row, _ in batch])
            conn.commit()
        except Exception as exc:  # whatever it is, every waiting request must get its answer
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            log.error("webhook intake: batch of %d not stored (%s)", len(batch), type(exc).__name__)
            _settle(batch, IntakeUnavailable(type(exc).__name__))
            return
        _settle(batch, True)

    async def aclose(self) -> None:
        if self._pooled is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA busy_timeout=30000")  # as the pool's other connections
            self._pooled.close()  # back to the pool
            self._pooled = self._conn = None
        await asyncio.to_thread(self.fallback.close)


class _Lane:
    """One PostgreSQL connection and whether a batch is in flight on it."""

    def __init__(self) -> None:
        self.conn: Any = None
        self.task: asyncio.Task[None] | None = None


class PostgresIntake:
    def __init__(self, engine: Engine, lanes: int = PG_LANES) -> None:
        # The engine's own connect arguments (host, credentials, sslmode...), for psycopg's async API.
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        self._lanes = [_Lane() for _ in range(lanes)]
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []

    async def store(self, row: Row) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        idle = next((lane for lane in self._lanes if lane.task is None), None)
        if idle is not None:
            idle.task = asyncio.create_task(self._run(idle))
        await done

    async def _run(self, lane: _Lane) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    rows = [row for row, _ in batch]
                    async with asyncio.timeout(PG_BATCH_TIMEOUT_SECONDS):  # no extra task, as wait_for makes
                        await self._insert(lane, rows)
                except Exception as exc:  # any failure: not stored, the sender retries
                    await self._discard(lane)
                    log.error("webhook intake: batch of %d not stored (%s)", len(batch), type(exc).__name__)
                    _settle(batch, IntakeUnavailable(type(exc).__name__))
                    continue
                _settle(batch, None)
        finally:
            lane.task = None

    async def _insert(self, lane: _Lane, rows: list[Row]) -> None:
        import psycopg

        fresh = lane.conn is None or lane.conn.closed
        if fresh:
            lane.conn = await self._connect()
        params = [json.dumps(rows)]
        try:
            # One statement, one round trip, committed when it returns (autocommit).
            await lane.conn.execute(_PG_INSERT, params)
        except psycopg.OperationalError:
            if fresh:
                raise
            # The held connection died while idle (a restart, a proxy's idle timeout): once more on a
            # new one. Safe even if the first did commit: a row stored twice is scheduled once.
            await self._discard(lane)
            lane.conn = await self._connect()
            await lane.conn.execute(_PG_INSERT, params)

    async def _connect(self) -> Any:
        import psycopg

        args, kwargs = self._connect_args
        return await psycopg.AsyncConnection.connect(*args, **{**kwargs, "autocommit": True})

    @staticmethod
    async def _discard(lane: _Lane) -> None:
        conn, lane.conn = lane.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        for lane in self._lanes:
            if lane.task is not None:
                with contextlib.suppress(Exception):
                    await lane.task
            await self._discard(lane)


def _settle(batch: list[tuple[Row, asyncio.Future[Any]]], outcome: object) -> None:
    """Resolve each waiting request (one whose client went away is already cancelled)."""
    for _, done in batch:
        if done.done():
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


def intake_writer(engine: Engine) -> IntakeWriter:
    """The writer for this database (created inside the running event loop, closed with `aclose`)."""
    if engine.dialect.name == "sqlite":
        return SqliteIntake(engine, GroupCommitWriter(engine, name="nps-intake"))
    return PostgresIntake(engine)
