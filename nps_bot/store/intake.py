"""Storing verified webhooks from the event loop: the web process's hot path.

A webhook is answered 2xx once its row is in `webhook_intake` (committed); workers schedule it later
(surveys/intake.py). Writing here costs far less than scheduling, and neither writer hands the request
to a thread: the hand-off alone cost a third of the throughput on 2 cores (bench/PROFILE.md).

- `SqliteIntake`: group commit on the event loop. Rows that arrive in one turn of the loop go in one
  transaction. The loop must never wait for SQLite's lock, so this connection's busy_timeout is 0:
  when a worker holds the write lock, the row goes through the group-commit writer thread instead,
  which waits for the lock as every other writer does.
- `PostgresIntake`: async connections (autocommit; asyncpg, or psycopg for URLs asyncpg cannot read),
  one batch in flight (a spare connection takes over from a stalled one); the rows that arrive
  meanwhile gather into the next batch: one INSERT of two text arrays, one round trip.

Both raise `IntakeUnavailable` when the row was not stored (the request answers 503, never 2xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import sqlite3
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.store.engine import psycopg_connect_args, transaction_pooling
from nps_bot.store.group_commit import GroupCommitWriter, WriterClosed
from nps_bot.store.schema import webhook_intake

log = logging.getLogger(__name__)
Row = tuple[str, str]  # (connector, payload JSON)
# Connections on PostgreSQL: one carries the batches; the others are spares, started only when the
# batch in flight has taken longer than PG_SPARE_AFTER_SECONDS (a stalled connection). Rows that
# arrive while a batch is in flight wait and go together in the next one: with asyncpg, two lanes in
# use at once cost 6-19 % more server CPU per webhook than one (bench/PROFILE.md).
PG_LANES = 2
PG_SPARE_AFTER_SECONDS = 0.05
# A batch that takes longer than this fails (503, the help desk redelivers) rather than hang requests.
PG_BATCH_TIMEOUT_SECONDS = 10.0
# The batch as two arrays (connectors, payloads): the payloads travel as they are, where a JSON array of
# rows had to escape every quote in them again and have the server parse it back.
_PG_INSERT = "INSERT INTO webhook_intake (connector, payload) SELECT * FROM unnest(%s::text[], %s::text[])"
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
        self.since = 0.0  # loop time the batch in flight started


class _PgDriver(Protocol):
    """The async driver a lane talks through: one autocommit connection, one statement per batch."""

    name: str

    async def connect(self) -> Any: ...

    async def insert(self, conn: Any, rows: list[Row]) -> None: ...

    def closed(self, conn: Any) -> bool: ...

    async def close(self, conn: Any) -> None: ...

    def dropped(self, exc: Exception) -> bool:
        """Did this error end the connection (restart, idle timeout), so one retry on a new one may work?"""
        ...


# The connection-string parameters asyncpg reads itself (asyncpg/connect_utils.py); any other one (say
# connect_timeout, keepalives, options) would reach the server as a setting it refuses, so such a URL
# keeps psycopg, which reads every libpq parameter.
_ASYNCPG_PARAMETERS = frozenset(
    {
        "host", "port", "user", "password", "passfile", "database", "dbname", "service", "sslmode",
        "sslcert", "sslkey", "sslpassword", "sslrootcert", "sslcrl", "sslnegotiation",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "target_session_attrs", "krbsrvname",
        "gsslib",
    }
)  # fmt: skip


class _Asyncpg:
    """asyncpg: its connection is an asyncio protocol that stays registered with the loop, so a batch
    costs a write and a read, where psycopg's async wait adds and removes a reader each time (about
    0.1 ms of server CPU per webhook less at 8 connections, bench/PROFILE.md)."""

    name = "asyncpg"

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._insert = _PG_INSERT.replace("%s", "$1", 1).replace("%s", "$2", 1)

    async def connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self._dsn)

    async def insert(self, conn: Any, rows: list[Row]) -> None:
        await conn.execute(self._insert, *_columns(rows))

    def closed(self, conn: Any) -> bool:
        return bool(conn.is_closed())

    async def close(self, conn: Any) -> None:
        await conn.close(timeout=5)

    def dropped(self, exc: Exception) -> bool:
        import asyncpg

        # A terminated backend (57P01 and kin), a socket gone, or "connection is closed".
        return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | OSError) or (
            isinstance(exc, asyncpg.PostgresError) and str(getattr(exc, "sqlstate", "")).startswith("57P")
        )


class _PsycopgAsync:
    """psycopg's async connection, from the engine's own connect arguments (any libpq parameter)."""

    name = "psycopg"

    def __init__(self, engine: Engine) -> None:
        self._connect_args = psycopg_connect_args(engine)

    async def connect(self) -> Any:
        import psycopg

        args, kwargs = self._connect_args
        return await psycopg.AsyncConnection.connect(*args, **{**kwargs, "autocommit": True})

    async def insert(self, conn: Any, rows: list[Row]) -> None:
        await conn.execute(_PG_INSERT, _columns(rows))

    def closed(self, conn: Any) -> bool:
        return bool(conn.closed)

    async def close(self, conn: Any) -> None:
        await conn.close()

    def dropped(self, exc: Exception) -> bool:
        import psycopg

        return isinstance(exc, psycopg.OperationalError)


def _columns(rows: list[Row]) -> tuple[list[str], list[str]]:
    return [connector for connector, _ in rows], [payload for _, payload in rows]


def pg_driver(engine: Engine) -> _PgDriver:
    """asyncpg when it is installed and reads every parameter of the URL; psycopg otherwise, and behind
    a pooler in transaction mode (asyncpg's statement cache names statements on a server connection
    the next batch may not get; without the cache it takes two round trips a batch)."""
    unread = set(engine.url.query) - _ASYNCPG_PARAMETERS
    if unread:
        log.info("webhook intake: psycopg, for the URL parameters %s", ", ".join(sorted(unread)))
    if unread or transaction_pooling(engine) or importlib.util.find_spec("asyncpg") is None:
        return _PsycopgAsync(engine)
    return _Asyncpg(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))


class PostgresIntake:
    def __init__(self, engine: Engine, lanes: int = PG_LANES, driver: _PgDriver | None = None) -> None:
        self.driver = driver or pg_driver(engine)
        self._lanes = [_Lane() for _ in range(lanes)]
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []

    async def store(self, row: Row) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, done))
        now, idle, stalled = loop.time(), None, True
        for lane in self._lanes:
            if lane.task is None:
                idle = idle or lane
            elif now - lane.since < PG_SPARE_AFTER_SECONDS:
                stalled = False  # a batch is on its way: this row goes in its lane's next batch
        if idle is not None and stalled:
            idle.since = now
            idle.task = asyncio.create_task(self._run(idle))
        await done

    async def _run(self, lane: _Lane) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                lane.since = asyncio.get_running_loop().time()
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
        fresh = lane.conn is None or self.driver.closed(lane.conn)
        if fresh:
            lane.conn = await self.driver.connect()
        try:
            # One statement, one round trip, committed when it returns (autocommit).
            await self.driver.insert(lane.conn, rows)
        except Exception as exc:
            # Gone: an error the driver names a lost connection, or any error that left it closed
            # (asyncpg reports a backend terminated while idle as "another operation is in progress").
            if fresh or not (self.driver.dropped(exc) or self.driver.closed(lane.conn)):
                raise
            # The held connection died while idle (a restart, a proxy's idle timeout): once more on a
            # new one. Safe even if the first did commit: a row stored twice is scheduled once.
            await self._discard(lane)
            lane.conn = await self.driver.connect()
            await self.driver.insert(lane.conn, rows)

    async def _discard(self, lane: _Lane) -> None:
        conn, lane.conn = lane.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await self.driver.close(conn)

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
