"""Shared fixtures: an isolated environment, a controllable clock, the real app served over HTTP
on 127.0.0.1, the fake Slack Web API, and databases (SQLite always; PostgreSQL when
NPS_BOT_TEST_POSTGRES_URL points at a server, as it does in CI)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.server import BackgroundServer
from nps_bot.store import create_engine_for, migrate
from nps_bot.web import create_app
from tests.fakes.slack import FakeSlack, fake_slack  # noqa: F401
from tests.support.app import GENERIC_SECRET, SLACK_SIGNING_SECRET, Live, draining_client, generic_event  # noqa: F401
from tests.support.smtp import Mailbox, smtp_server

# The tests.support.app names above are re-exported: connector tests and tests/db_helpers.py import them from here.

PG_URL = os.environ.get("NPS_BOT_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No developer .env, no real tokens: every test states the settings it needs."""
    for name in list(os.environ):
        if name.startswith(("NPS_BOT_", "SLACK_")) and name != "NPS_BOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    # Commands under test (`main([...])`) call logs.setup(), which points the root logger at this
    # test's captured stderr; put the root logger back so later threads never log to a closed file.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))


def _admin() -> sa.Engine:
    assert PG_URL
    return sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")


def _pg_database(template: str | None = None) -> Iterator[str]:
    admin = _admin()
    name = f"nps_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_url(name: str) -> str:
    assert PG_URL
    return PG_URL.rsplit("/", 1)[0] + f"/{name}"


# Migrating a new database for each of several hundred tests is a large share of the suite's time:
# each database is copied from one migrated at the start of the session (a template database on
# PostgreSQL, a file copy on SQLite). Tests of the migrations themselves use `blank_db_url`.
@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "nps.db"
    engine = create_engine_for(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("NPS_BOT_TEST_POSTGRES_URL not set (CI sets it)")
    name = f"nps_template_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(_pg_url(name))
    migrate(engine)
    engine.dispose()  # a template database must have no sessions when it is copied
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """Runs the test on SQLite and, when a server is configured, on PostgreSQL (schema at head)."""
    if request.param == "sqlite":
        target = tmp_path / "nps.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    if not PG_URL:
        pytest.skip("NPS_BOT_TEST_POSTGRES_URL not set (CI sets it)")
    yield from _pg_database(template=request.getfixturevalue("_pg_template"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """An empty database (no schema) on SQLite and, when configured, PostgreSQL: for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    if not PG_URL:
        pytest.skip("NPS_BOT_TEST_POSTGRES_URL not set (CI sets it)")
    yield from _pg_database()


@pytest.fixture
def db_url(tmp_path: Any, _sqlite_template: Path) -> str:
    target = tmp_path / "nps.db"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def make_live(monkeypatch: pytest.MonkeyPatch, clock: ManualClock, db_url: str) -> Iterator[Callable[..., Live]]:
    """Start the real app on 127.0.0.1; `env` sets integration variables, `settings` core ones."""
    stack: list[tuple[BackgroundServer, httpx.Client, AppContext]] = []

    def start(env: dict[str, str] | None = None, database_url: str | None = None, **settings: Any) -> Live:
        monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", GENERIC_SECRET)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        settings.setdefault("survey_delay", timedelta(hours=1))
        settings.setdefault("embedded_worker", False)
        settings.setdefault("company_name", "Acme")
        ctx = AppContext.build(Settings(database_url=database_url or db_url, **settings), clock=clock)
        server = BackgroundServer(create_app(ctx)).__enter__()
        ctx.settings.public_url = server.url
        http = draining_client(ctx, server.url)
        stack.append((server, http, ctx))
        return Live(ctx, server.url, http, clock)

    yield start
    for server, http, ctx in reversed(stack):
        http.close()
        _stop_in_background(server, ctx)


# uvicorn takes ~0.2 s to shut down (a 0.1 s tick plus a fixed 0.1 s grace sleep): with hundreds of
# app-level tests, waiting for each one is a minute of the suite. Servers are told to exit at once and
# joined (then their engines disposed) in the background; the session waits for all of them at the end.
_stopping: list[threading.Thread] = []


def _stop_in_background(server: BackgroundServer, ctx: AppContext) -> None:
    server.server.should_exit = True

    def finish() -> None:
        server.thread.join(10)
        ctx.engine.dispose()

    thread = threading.Thread(target=finish, name="stop-test-server", daemon=True)
    thread.start()
    _stopping.append(thread)


@pytest.fixture(scope="session", autouse=True)
def _servers_stopped_at_exit() -> Iterator[None]:
    yield
    for thread in _stopping:
        thread.join(15)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vendor API retries without real sleeps: the exponential wait inside nps_bot.plugin.http becomes zero."""
    import nps_bot.plugin.http

    monkeypatch.setattr(nps_bot.plugin.http, "backoff", lambda _state: 0.0)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback (tests/support/smtp.py): what it received, and its port."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Mailbox, int]]:
    """The same, requiring AUTH (plain text: it is local)."""
    with smtp_server(auth=True) as server:
        yield server
