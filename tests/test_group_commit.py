"""The SQLite group-commit writer (nps_bot/store/group_commit.py) behind the webhook endpoint:
concurrent posts are committed together and each answered only after its own commit; a failed
commit fails exactly the requests of that batch; shutdown commits what is queued."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.models import Customer, Interaction
from nps_bot.server import BackgroundServer
from nps_bot.store.group_commit import GroupCommitWriter, WriterClosed
from nps_bot.store.schema import surveys, webhook_events
from nps_bot.web import create_app
from tests.support.app import GENERIC_SECRET, Live, generic_event


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, clock: ManualClock, db_url: str) -> Iterator[tuple[Live, Any]]:
    """The real app on SQLite, and its ingest writer (set by the lifespan)."""
    monkeypatch.setenv("NPS_BOT_GENERIC_SECRET", GENERIC_SECRET)
    settings = Settings(database_url=db_url, embedded_worker=False, survey_delay=timedelta(hours=1))
    ctx = AppContext.build(settings, clock=clock)
    app = create_app(ctx)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        yield Live(ctx, server.url, http, clock), app.state.ingest_writer
    ctx.engine.dispose()


def count(ctx: AppContext, table: sa.Table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def hold(writer: GroupCommitWriter) -> threading.Event:
    """Keep the writer busy in a batch of its own until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def blocker(_: sa.Connection) -> None:
        started.set()
        release.wait(20)

    writer.submit(blocker)
    assert started.wait(5)
    return release


def wait_queued(writer: GroupCommitWriter, n: int) -> None:
    deadline = time.monotonic() + 10
    while writer.pending() < n:
        assert time.monotonic() < deadline, f"only {writer.pending()} of {n} requests reached the writer"
        time.sleep(0.01)


def post_concurrently(live: Live, bodies: list[dict[str, Any]]) -> list[Future[httpx.Response]]:
    pool = ThreadPoolExecutor(len(bodies))

    def post(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=20) as own:  # one connection per sender
            return Live(live.ctx, live.url, own, live.clock).post_generic(body)

    futures = [pool.submit(post, b) for b in bodies]
    pool.shutdown(wait=False)
    return futures


def test_eight_concurrent_posts_are_committed_together_and_all_stored(served: tuple[Live, Any]) -> None:
    live, writer = served
    assert isinstance(writer, GroupCommitWriter)
    release = hold(writer)
    # Eight new webhooks and a redelivery of one of them, all in the same batch.
    answers = post_concurrently(live, [generic_event(n) for n in range(8)] + [generic_event(3)])
    wait_queued(writer, 9)
    assert not any(a.done() for a in answers)  # nothing is answered before its commit
    commits = 0

    def counted(_: sa.Connection) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(live.ctx.engine, "commit", counted)
    try:
        release.set()
        statuses = sorted(a.result(20).json()["status"] for a in answers)
    finally:
        sa.event.remove(live.ctx.engine, "commit", counted)
    assert commits == 2, "the holding batch, then all nine in one transaction"
    assert all(a.result().status_code == 202 for a in answers)
    assert statuses == ["duplicate"] + ["scheduled"] * 8
    assert count(live.ctx, surveys) == 8
    assert count(live.ctx, webhook_events) == 8


def test_a_failed_commit_answers_503_for_exactly_the_requests_of_that_batch(served: tuple[Live, Any]) -> None:
    live, writer = served
    assert live.post_generic(generic_event(100)).status_code == 202  # committed before the failure
    release = hold(writer)
    commits = 0

    def fail_second_commit(_: sa.Connection) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:  # the first is the holding batch; the second holds the four posts
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(live.ctx.engine, "commit", fail_second_commit)
    try:
        answers = post_concurrently(live, [generic_event(n) for n in range(4)])
        wait_queued(writer, 4)
        release.set()
        responses = [a.result(20) for a in answers]
        after = live.post_generic(generic_event(200))  # the next batch commits again
    finally:
        sa.event.remove(live.ctx.engine, "commit", fail_second_commit)
    assert [r.status_code for r in responses] == [503] * 4
    assert all(r.headers["retry-after"] == "30" for r in responses)
    assert after.status_code == 202
    assert count(live.ctx, surveys) == 2  # events 100 and 200; nothing of the failed batch
    # The help desk redelivers the four: stored now, not taken for duplicates.
    assert [live.post_generic(generic_event(n)).json()["status"] for n in range(4)] == ["scheduled"] * 4
    assert count(live.ctx, surveys) == 6


def closing(n: int) -> Interaction:
    return Interaction(
        connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", customer=Customer(email=f"c{n}@example.com")
    )


def test_a_job_that_fails_rolls_back_only_itself(served: tuple[Live, Any]) -> None:
    live, writer = served
    release = hold(writer)

    def broken(conn: sa.Connection) -> None:
        live.ctx.surveys.schedule_in(conn, closing(2))
        raise ValueError("this job breaks after writing")

    def refused_by_the_database(conn: sa.Connection) -> None:
        live.ctx.surveys.schedule_in(conn, closing(4))
        conn.execute(sa.text("INSERT INTO surveys (id) VALUES (1)"))  # NOT NULL / PRIMARY KEY: refused

    jobs = [
        writer.submit(lambda conn: live.ctx.surveys.schedule_in(conn, closing(1))),
        writer.submit(broken),
        writer.submit(refused_by_the_database),
        writer.submit(lambda conn: live.ctx.surveys.schedule_in(conn, closing(3))),
    ]
    release.set()
    assert jobs[0].result(10).status == "scheduled"
    with pytest.raises(ValueError):
        jobs[1].result(10)
    with pytest.raises(sa.exc.IntegrityError):
        jobs[2].result(10)
    assert jobs[3].result(10).status == "scheduled"  # the transaction is still usable after both
    with live.ctx.engine.connect() as conn:
        tickets = conn.execute(sa.select(surveys.c.ticket_id).order_by(surveys.c.ticket_id)).scalars().all()
    assert tickets == ["T1", "T3"]


def test_close_commits_everything_queued_then_refuses_new_jobs(served: tuple[Live, Any]) -> None:
    live, _ = served
    writer = GroupCommitWriter(live.ctx.engine, max_batch=4)  # several batches to drain
    release = hold(writer)
    jobs = [writer.submit(lambda conn, n=n: live.ctx.surveys.schedule_in(conn, closing(n))) for n in range(10)]
    closer = threading.Thread(target=writer.close)
    closer.start()
    deadline = time.monotonic() + 5
    while not writer.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(WriterClosed):
        writer.submit(lambda conn: None)
    release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert [j.result(0).status for j in jobs] == ["scheduled"] * 10
    assert count(live.ctx, surveys) == 10
