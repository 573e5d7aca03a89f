"""Core statements compiled once and run straight on the driver's cursor, for the webhook hot path.

Even with a statement object built once (its compiled form cached), `Connection.execute` spends about
0.1 ms of Python per call setting up an execution context, processing parameters and wrapping the
result: seven statements made most of a webhook's cost on SQLite (bench/PROFILE.md). A `Prepared` keeps
the dialect's own compiled SQL and bind processors (so values are stored exactly as `Connection.execute`
would store them: UTC datetimes, JSON) and runs it on the cursor of the caller's connection, inside the
caller's transaction. Results come back as the driver's plain tuples (no result processors: use it for
ids, strings and numbers, not for columns whose type converts what it reads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


class Prepared:
    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            # Column defaults computed in Python would be skipped here: every value must be passed.
            raise ValueError(f"statement needs Python-side defaults; pass every column: {compiled}")
        self.sql = compiled.string
        self._order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positiontup else None
        binds = compiled._bind_processors  # the dialect's own conversions (SQLAlchemy keeps them here)
        self._processors: dict[str, Callable[[Any], Any]] = {k: v for k, v in binds.items() if v is not None}
        self._names = frozenset(compiled.binds)

    def _bind(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        process = self._processors
        if self._order is not None:  # qmark (SQLite): positional, a name may repeat
            return [process[k](params[k]) if k in process else params[k] for k in self._order]
        return {k: process[k](params[k]) if k in process else params[k] for k in self._names}

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute once; the first row (of a SELECT or RETURNING), or None."""
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, self._bind(params))
            row = cursor.fetchone() if cursor.description else None
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._as_sqlalchemy(conn, exc, cursor) from exc
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, [self._bind(r) for r in rows])
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._as_sqlalchemy(conn, exc, cursor) from exc
        finally:
            cursor.close()

    def _as_sqlalchemy(self, conn: Connection, exc: Exception, cursor: Any) -> sa.exc.DBAPIError:
        """The error as `Connection.execute` would raise it (OperationalError, IntegrityError...), so
        callers' handlers (a 503 for an outage, a 400 for a refused value) see what they expect; a lost
        connection is invalidated, not handed back to the pool."""
        dialect = conn.dialect
        lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate(exc)
        wrapped = sa.exc.DBAPIError.instance(
            self.sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
        )
        return wrapped  # type: ignore[return-value]
