"""The webhook endpoint when the database is away: 503 with Retry-After (never a 2xx for what was not
stored), and recovery by itself when the database is back; liveness and readiness told apart."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.support.app import Live, generic_event


@contextmanager
def database_away(live: Live, url: str) -> Iterator[None]:
    """Take the real database away from the running app, then give it back."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        live.ctx.engine.dispose()  # drop pooled connections: new ones must open the file
        aside = path.with_suffix(".away")
        os.replace(path, aside)
        path.mkdir()  # the file's place is taken: SQLite cannot open it
        try:
            yield
        finally:
            path.rmdir()
            os.replace(aside, path)
        return
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_webhook_answers_503_while_the_database_is_away_and_recovers(
    make_live: Callable[..., Live], any_db_url: str
) -> None:
    live = make_live(database_url=any_db_url)
    assert live.post_generic(generic_event(1)).status_code == 202
    # A plain client (no drain after the post): the database is away.
    with httpx.Client(base_url=live.url, timeout=10) as plain, database_away(live, any_db_url):
        response = Live(live.ctx, live.url, plain, live.clock).post_generic(generic_event(2))
        if any_db_url.startswith("sqlite"):
            # The intake keeps its SQLite file open (store/intake.py), so the row is written to
            # the file that comes back: a truthful 202. Refused writes: tests/test_intake.py.
            assert response.status_code == 202, response.text
        else:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "30"
        assert live.http.get("/readyz").status_code == 503
        assert live.http.get("/livez").json() == {"status": "ok"}
    stored_while_away = response.status_code == 202
    # The help desk redelivers what got a 503; no restart needed.
    again = live.post_generic(generic_event(2))
    assert again.status_code == 202, again.text
    outcomes = [live.outcome(again)["status"]]
    if stored_while_away:  # the first delivery was scheduled by the same drain, the redelivery is its duplicate
        outcomes = sorted(o.status for o in again.extensions["outcomes"])
    assert outcomes == (["duplicate", "scheduled"] if stored_while_away else ["scheduled"])
    ready = live.http.get("/readyz").json()
    assert ready == {
        "status": "ok",
        "database": "ok",
        "intake": {"waiting": 0, "failed": 0, "oldest_waiting_seconds": None},  # the client drains each post
    }
    assert live.outcome(live.post_generic(generic_event(2)))["status"] == "duplicate"


def test_survey_pages_answer_503_while_the_database_is_away(make_live: Callable[..., Live], any_db_url: str) -> None:
    """A customer who clicks during an outage gets "try again" (503, Retry-After), never a 500."""
    live = make_live(database_url=any_db_url)
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1  # sent (console channel): the link is live
    with live.ctx.engine.connect() as conn:
        token = conn.execute(sa.text("SELECT token FROM surveys")).scalar_one()
    with database_away(live, any_db_url):
        for response in (
            live.http.get(f"/s/{token}?score=9"),
            live.http.post(f"/s/{token}", data={"score": 9}),
            live.http.post(f"/s/{token}/comment", data={"comment": "hello"}),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "30" and "try again" in response.text
    assert live.http.post(f"/s/{token}", data={"score": 9}).status_code in (200, 303)  # back by itself
