"""Small portable SQL helpers for the dialects we support (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


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
