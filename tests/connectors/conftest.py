"""`shared_live`: like `make_live`, but one app per module and configuration, with every table emptied and the
clock put back between tests (starting uvicorn on a freshly migrated database is most of an end-to-end test).

Isolation is what a fresh app gives, for what these modules do:

* Settings and integrations are read from the environment when the app is built, so an app is built once per
  distinct (env, settings) within a module, in an environment cleaned exactly as `clean_env` cleans it; the same
  variables are set again for each test's duration, as `make_live` leaves them, for anything that reads later.
* Every table but `alembic_version` is emptied before each test (migrations seed no rows).
* The app's ManualClock is set back to the `clock` fixture's start.
* Entries a test adds to `ctx.integrations` or `ctx.extra_jobs` are removed after it.

Not reset: in-memory state inside an integration object (e.g. SharedToken remembers it already logged the
deprecated-header warning). A test that depends on such state, or changes `ctx.settings`, must use `make_live`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.server import BackgroundServer
from nps_bot.store.schema import metadata
from nps_bot.web import create_app
from tests.conftest import _stop_in_background
from tests.support.app import GENERIC_SECRET, Live, draining_client

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # the `clock` fixture's start


class _Shared:
    def __init__(self, live: Live, server: BackgroundServer, env: dict[str, str]) -> None:
        self.live = live
        self.server = server
        self.env = env
        self.integrations = dict(live.ctx.integrations)
        self.extra_jobs = list(live.ctx.extra_jobs)

    def reset(self) -> None:
        ctx = self.live.ctx
        ctx.integrations.clear()
        ctx.integrations.update(self.integrations)
        ctx.extra_jobs[:] = self.extra_jobs
        with ctx.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
        self.live.clock.set(START)


def _key(env: dict[str, str], settings: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(env.items())), tuple(sorted((k, repr(v)) for k, v in settings.items()))


@pytest.fixture(scope="module")
def _module_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[Any, ...], _Shared]]:
    apps: dict[tuple[Any, ...], _Shared] = {}
    yield apps
    for shared in apps.values():
        shared.live.http.close()
        _stop_in_background(shared.server, shared.live.ctx)


def _build(tmp: Path, env: dict[str, str], settings: dict[str, Any]) -> _Shared:
    with pytest.MonkeyPatch.context() as mp:
        # As tests/conftest.py's clean_env, then make_live.
        for name in list(os.environ):
            if name.startswith(("NPS_BOT_", "SLACK_")) and name != "NPS_BOT_TEST_POSTGRES_URL":
                mp.delenv(name)
        mp.chdir(tmp)
        for key, value in env.items():
            mp.setenv(key, value)
        clock = ManualClock(START)
        ctx = AppContext.build(Settings(database_url=f"sqlite:///{tmp / 'nps.db'}", **settings), clock=clock)
    server = BackgroundServer(create_app(ctx)).__enter__()
    ctx.settings.public_url = server.url
    http = draining_client(ctx, server.url)
    return _Shared(Live(ctx, server.url, http, clock), server, env)


@pytest.fixture
def shared_live(
    _module_apps: dict[tuple[Any, ...], _Shared],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Live]]:
    """`shared_live(env=..., **settings)`: `make_live`'s arguments (no `database_url`: always SQLite)."""
    used: list[_Shared] = []

    def start(env: dict[str, str] | None = None, **settings: Any) -> Live:
        env = {"NPS_BOT_GENERIC_SECRET": GENERIC_SECRET, **(env or {})}
        settings.setdefault("survey_delay", timedelta(hours=1))
        settings.setdefault("embedded_worker", False)
        settings.setdefault("company_name", "Acme")
        key = _key(env, settings)
        shared = _module_apps.get(key)
        if shared is None:
            shared = _module_apps[key] = _build(tmp_path_factory.mktemp("shared-app"), env, settings)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        shared.reset()
        used.append(shared)
        return shared.live

    yield start
    for shared in used:
        shared.reset()
