"""Statements run on the driver's cursor (nps_bot/store/prepared.py) store exactly what
`Connection.execute` stores, and refuse statements whose Python-side defaults they would skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from nps_bot.store import create_engine_for
from nps_bot.store.prepared import Prepared
from nps_bot.store.schema import surveys, webhook_events
from nps_bot.surveys.schedule_statements import SURVEY_COLUMNS

# Not UTC on purpose: both paths must convert to UTC the same way.
NOTE = 'ą\\"} quote, backslash and brace'
AT = datetime(2026, 11, 28, 14, 5, 6, 789012, tzinfo=timezone(timedelta(hours=2)))


def survey_row(token: str, ticket: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(SURVEY_COLUMNS)
    row.update(
        token=token, kind="nps", connector="generic", ticket_id=ticket, language="lt", state="scheduled",
        due_at=AT, expires_at=AT + timedelta(days=7), attempts=0, closed_at=AT, created_at=AT, updated_at=AT,
        reply_context={"conversation_id": "123", "note": NOTE}, subject="Sąskaita",
    )  # fmt: skip
    return row


def test_a_prepared_insert_stores_what_connection_execute_stores(any_db_url: str) -> None:
    engine = create_engine_for(any_db_url)
    try:
        with engine.begin() as conn:
            insert = Prepared(surveys.insert().returning(surveys.c.id), conn.dialect, SURVEY_COLUMNS)
            (ours,) = insert.first(conn, survey_row("tok-prepared", "T-1")) or (None,)
            theirs = conn.execute(surveys.insert().returning(surveys.c.id), survey_row("tok-core", "T-2")).scalar()
        with engine.connect() as conn:
            a, b = (conn.execute(sa.select(surveys).where(surveys.c.id == i)).one()._asdict() for i in (ours, theirs))
            # The raw stored text too, not only what the column types read back.
            raw = conn.execute(sa.text("SELECT due_at, reply_context FROM surveys ORDER BY id")).all()
        for key in ("id", "token", "ticket_id"):
            a.pop(key), b.pop(key)
        assert a == b
        assert a["due_at"] == AT.astimezone(UTC)
        assert a["reply_context"] == {"conversation_id": "123", "note": NOTE}
        assert raw[0] == raw[1]
    finally:
        engine.dispose()


def test_a_statement_that_needs_python_defaults_is_refused() -> None:
    engine = create_engine_for("sqlite://")
    # webhook_events' columns have no Python defaults, but surveys.attempts has one (default=0).
    Prepared(webhook_events.insert(), engine.dialect, ("connector", "event_id", "received_at", "outcome"))
    with pytest.raises(ValueError, match="Python-side defaults"):
        Prepared(surveys.insert(), engine.dialect, ("token", "kind", "connector", "ticket_id"))


def test_driver_errors_surface_as_sqlalchemy_errors(any_db_url: str) -> None:
    """The webhook handler answers 503 for sa.exc.OperationalError and 400 for refused values: a
    statement run on the driver's cursor must raise those, not the driver's own classes."""
    engine = create_engine_for(any_db_url)
    try:
        with engine.connect() as conn:
            insert = Prepared(surveys.insert().returning(surveys.c.id), conn.dialect, SURVEY_COLUMNS)
            insert.first(conn, survey_row("tok-once", "T-1"))
            with pytest.raises(sa.exc.IntegrityError):
                insert.first(conn, survey_row("tok-once", "T-2"))  # the token is unique
            conn.rollback()
            broken = Prepared(sa.select(sa.text("no_such_column")).select_from(surveys), conn.dialect)
            with pytest.raises(sa.exc.DBAPIError):
                broken.first(conn, {})
    finally:
        engine.dispose()
