"""The Alembic migrations build exactly the schema that nps_bot/store/schema.py declares.

A fresh database (SQLite always, PostgreSQL when NPS_BOT_TEST_POSTGRES_URL is set) is upgraded to
head with the same `migrate` the service runs at start-up, then autogenerate compares it with the
metadata: any difference means a migration is missing or disagrees with schema.py.

Types are compared too (`compare_type=True`, Alembic's default since 1.12, stated here so it cannot
silently change). That is not noisy on SQLite for this schema: Alembic compares the dialect's own
type (`Id` is a `with_variant(Integer(), "sqlite")`, `UtcDateTime` compares through its
`DateTime` impl), and SQLite reflects declared type names and lengths verbatim (VARCHAR(64),
DATETIME, JSON, BOOLEAN), so a real mismatch shows up and nothing else does. Server defaults are
compared as well; both backends reflect the ones the migrations set ("0", false) equivalently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from nps_bot.store.engine import create_engine_for, migrate
from nps_bot.store.schema import metadata

COMPARE_OPTS = {"compare_type": True, "compare_server_default": True}


@pytest.fixture
def migrated(blank_db_url: str) -> Iterator[Engine]:
    engine = create_engine_for(blank_db_url)
    migrate(engine)
    yield engine
    engine.dispose()


def differences(engine: Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts=COMPARE_OPTS), target)


def test_migrations_at_head_match_schema(migrated: Engine) -> None:
    assert differences(migrated, metadata) == []


def test_the_comparison_notices_drift(migrated: Engine) -> None:
    """Guards the test above against passing vacuously (e.g. types not compared on SQLite)."""
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["surveys"].c.channel.type = sa.String(65)
    drifted.tables["outbox"].append_column(sa.Column("brand_new", sa.Integer))

    found = differences(migrated, drifted)
    added = [(d[0], d[2], d[3].name) for d in found if isinstance(d, tuple)]
    modified = [(d[0][0], d[0][2], d[0][3]) for d in found if isinstance(d, list)]
    assert added == [("add_column", "outbox", "brand_new")]
    assert modified == [("modify_type", "surveys", "channel")]
