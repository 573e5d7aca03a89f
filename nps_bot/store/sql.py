"""Small portable SQL helpers for the dialects we support (SQLite, PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

# Errors that leave a transaction unusable (the database is away or broke the session): a whole
# batch fails with them, never one job or row of it.
OUTAGE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InternalError, sa.exc.TimeoutError)


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that takes SQLite's write lock at its start (`BEGIN IMMEDIATE`: no lock upgrade
    midway, and pysqlite's savepoints need an explicit BEGIN to nest under); a plain one elsewhere."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@contextlib.contextmanager
def driver_savepoint(conn: Connection, name: str) -> Iterator[None]:
    """A SAVEPOINT around the block, undone when the block raises (the error goes on). Sent through
    the driver: SQLAlchemy's begin_nested() compiles SAVEPOINT and RELEASE anew each time, a seventh
    of a webhook's cost in the profile (bench/PROFILE.md)."""
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    cursor.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # after an outage the caller rolls back the whole transaction
            cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            cursor.execute(f"RELEASE SAVEPOINT {name}")
        raise
    cursor.execute(f"RELEASE SAVEPOINT {name}")


def _insert_for(conn: Connection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str]) -> bool:
    """Insert a row unless one with the same unique key exists; True when it was inserted."""
    stmt = _insert_for(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    # RETURNING rather than rowcount: psycopg reports -1 for inserts SQLAlchemy adds RETURNING to.
    return conn.execute(stmt.returning(table.c[conflict[0]])).first() is not None


def upsert(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Mapping[str, Any],
    returning: Any = None,
) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE; `update` may refer to `excluded` via the returned stmt."""
    stmt = _insert_for(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(conflict), set_=update(stmt.excluded) if callable(update) else update
    )
    if returning is not None:
        stmt = stmt.returning(returning)
    return conn.execute(stmt)
