"""Engine creation (SQLite tuned for a web + worker process pair) and Alembic migrations."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# Arbitrary constant: serialises concurrent `migrate` calls from several replicas on PostgreSQL.
_MIGRATION_LOCK_ID = 0x6E7073
# `?pool_mode=transaction` on a PostgreSQL URL: the URL points at a pooler in transaction mode
# (PgBouncer's pool_mode, Supabase's port 6543). Recorded as this engine execution option.
POOL_MODE = "pool_mode"
TRANSACTION_POOLING = "nps_transaction_pooling"


# Behind a pooler in transaction mode each transaction may run on another server connection: no
# statement may stay prepared on one.
_NOTHING_PREPARED = {"prepare_threshold": None}


def transaction_pooling(engine: Engine) -> bool:
    return bool(engine.get_execution_options().get(TRANSACTION_POOLING))


def psycopg_connect_args(engine: Engine) -> tuple[list[Any], dict[str, Any]]:
    """What the engine's pool passes to psycopg, for a connection made outside the pool."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    return list(args), ({**kwargs, **_NOTHING_PREPARED} if transaction_pooling(engine) else kwargs)


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    parsed = sa.make_url(url)
    pool_mode = parsed.query.get(POOL_MODE)
    if pool_mode not in (None, "session", "transaction"):  # ours, not libpq's: off the URL drivers see
        raise ValueError(f"{POOL_MODE}={pool_mode!r} in the database URL: use session or transaction")
    if pool_mode == "transaction":
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), **_NOTHING_PREPARED}
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), TRANSACTION_POOLING: True}
    engine = sa.create_engine(parsed.difference_update_query([POOL_MODE]), **kwargs)
    dialect = engine.dialect

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _ping_if_idle(dialect, dbapi_connection, record)

    sa.event.listen(engine, "checkout", ping_if_idle)
    sa.event.listen(engine, "checkin", _note_checkin)
    return engine


# A connection used this recently is alive: pinging it on every checkout (pool_pre_ping) was one
# extra round trip per transaction (scheduling a webhook is ~9). After a pause (a database restart happens in
# one) it is pinged as before; a disconnect met mid-use invalidates the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any) -> None:
    last = record.info.get("checked_in_at")
    if last is not None and time.monotonic() - last < PING_AFTER_IDLE_SECONDS:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as exc:
        raise sa.exc.DisconnectionError("stale connection") from exc  # the pool retries with a new one
    if alive is False:
        raise sa.exc.DisconnectionError("stale connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the worker writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at; None for a new database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call from every process at start-up."""
    cfg = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        # The whole upgrade is one transaction (PostgreSQL's DDL is transactional), and so is the
        # lock: released by its commit or rollback, and held on one server connection even behind a
        # pooler in transaction mode, where a session's lock could outlive its client.
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    else:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    log.info("database schema at %s", revision)
