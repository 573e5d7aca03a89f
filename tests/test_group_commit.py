"""The SQLite group-commit writer (nps_bot/store/group_commit.py): where the webhook intake sends a
row while another process holds the write lock (store/intake.py). Jobs waiting together are committed
together and each resolved only after its own commit; a failed commit fails exactly that batch's
jobs; a job that fails rolls back alone; shutdown commits what is queued."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.store.group_commit import GroupCommitWriter, WriterClosed
from nps_bot.store.intake import insert_rows
from nps_bot.store.schema import surveys, webhook_intake
from tests.db_helpers import count
from tests.support.app import closing, services


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[AppContext, GroupCommitWriter]]:
    """The core services on SQLite, and a writer over their engine."""
    ctx = services(db_url, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    writer = GroupCommitWriter(ctx.engine)
    yield ctx, writer
    writer.close()
    ctx.engine.dispose()


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


def row(n: int) -> list[tuple[str, str]]:
    return [("generic", f'{{"n": {n}}}')]


def test_jobs_waiting_together_are_committed_together(served: tuple[AppContext, GroupCommitWriter]) -> None:
    ctx, writer = served
    release = hold(writer)
    jobs = [writer.submit(lambda conn, n=n: insert_rows(conn, row(n))) for n in range(9)]
    wait_queued(writer, 9)
    assert not any(j.done() for j in jobs)  # nothing is resolved before its commit
    commits = 0

    def counted(_: sa.Connection) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(ctx.engine, "commit", counted)
    try:
        release.set()
        for job in jobs:
            job.result(20)
    finally:
        sa.event.remove(ctx.engine, "commit", counted)
    assert commits == 2, "the holding batch, then all nine in one transaction"
    assert count(ctx, webhook_intake) == 9


def test_a_failed_commit_fails_exactly_the_jobs_of_that_batch(served: tuple[AppContext, GroupCommitWriter]) -> None:
    ctx, writer = served
    writer.submit(lambda conn: insert_rows(conn, row(100))).result(10)  # committed before the failure
    release = hold(writer)
    commits = 0

    def fail_second_commit(_: sa.Connection) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:  # the first is the holding batch; the second holds the four jobs
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(ctx.engine, "commit", fail_second_commit)
    try:
        jobs = [writer.submit(lambda conn, n=n: insert_rows(conn, row(n))) for n in range(4)]
        wait_queued(writer, 4)
        release.set()
        for job in jobs:
            with pytest.raises(sa.exc.OperationalError):
                job.result(20)
        writer.submit(lambda conn: insert_rows(conn, row(200))).result(10)  # the next batch commits again
    finally:
        sa.event.remove(ctx.engine, "commit", fail_second_commit)
    with ctx.engine.connect() as conn:
        stored = conn.execute(sa.select(webhook_intake.c.payload).order_by(webhook_intake.c.id)).scalars().all()
    assert stored == ['{"n": 100}', '{"n": 200}']  # nothing of the failed batch


def test_a_job_that_fails_rolls_back_only_itself(served: tuple[AppContext, GroupCommitWriter]) -> None:
    ctx, writer = served
    release = hold(writer)

    def broken(conn: sa.Connection) -> None:
        ctx.surveys.schedule_in(conn, closing(2))
        raise ValueError("this job breaks after writing")

    def refused_by_the_database(conn: sa.Connection) -> None:
        ctx.surveys.schedule_in(conn, closing(4))
        conn.execute(sa.text("INSERT INTO surveys (id) VALUES (1)"))  # NOT NULL / PRIMARY KEY: refused

    jobs = [
        writer.submit(lambda conn: ctx.surveys.schedule_in(conn, closing(1))),
        writer.submit(broken),
        writer.submit(refused_by_the_database),
        writer.submit(lambda conn: ctx.surveys.schedule_in(conn, closing(3))),
    ]
    release.set()
    assert jobs[0].result(10).status == "scheduled"
    with pytest.raises(ValueError):
        jobs[1].result(10)
    with pytest.raises(sa.exc.IntegrityError):
        jobs[2].result(10)
    assert jobs[3].result(10).status == "scheduled"  # the transaction is still usable after both
    with ctx.engine.connect() as conn:
        tickets = conn.execute(sa.select(surveys.c.ticket_id).order_by(surveys.c.ticket_id)).scalars().all()
    assert tickets == ["T1", "T3"]


def test_close_commits_everything_queued_then_refuses_new_jobs(served: tuple[AppContext, GroupCommitWriter]) -> None:
    ctx, _ = served
    writer = GroupCommitWriter(ctx.engine, max_batch=4)  # several batches to drain
    release = hold(writer)
    jobs = [writer.submit(lambda conn, n=n: ctx.surveys.schedule_in(conn, closing(n))) for n in range(10)]
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
    assert count(ctx, surveys) == 10
