"""The webhook intake queue: a webhook is answered once stored (nps_bot/store/intake.py), a worker
schedules it (nps_bot/surveys/intake.py). The clients here are plain ones: nothing drains behind the
test's back (tests/support/app.draining_client does, for the other tests)."""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from nps_bot import web
from nps_bot.app import AppContext
from nps_bot.delivery.worker import Worker
from nps_bot.models import Customer, Interaction
from nps_bot.server import BackgroundServer
from nps_bot.store import intake as store_intake
from nps_bot.store.engine import create_engine_for
from nps_bot.store.intake import IntakeUnavailable, PostgresIntake, Row, _Asyncpg, intake_writer, pg_driver
from nps_bot.store.schema import surveys, webhook_events, webhook_intake
from nps_bot.surveys import intake as intake_module
from nps_bot.surveys.intake import WebhookIntake, encode
from nps_bot.surveys.policy import SurveyPolicy
from nps_bot.surveys.privacy import forget, purge_older_than
from nps_bot.surveys.service import SurveyService
from tests.conftest import PG_URL, _pg_database
from tests.db_helpers import count
from tests.support.app import Live, closing, generic_event, services


@pytest.fixture
def queued(make_live: Callable[..., Live], any_db_url: str) -> Iterator[Live]:
    """The real app on SQLite and PostgreSQL, driven by a client that does not drain the queue."""
    live = make_live(database_url=any_db_url)
    with httpx.Client(base_url=live.url, timeout=20) as plain:
        yield Live(live.ctx, live.url, plain, live.clock)


def post_alone(live: Live, body: dict[str, Any]) -> httpx.Response:
    """A signed generic webhook on a connection of its own (one sender of several), not drained."""
    with httpx.Client(base_url=live.url, timeout=20) as own:
        return Live(live.ctx, live.url, own, live.clock).post_generic(body)


def test_a_webhook_is_answered_once_stored_and_scheduled_later_from_its_arrival(queued: Live) -> None:
    live = queued
    arrived = live.clock.now()
    response = live.post_generic(generic_event(1, ticket={"closed_at": None}))  # due from the arrival

    assert response.status_code == 202, response.text
    assert response.json() == {"status": "queued", "events": ["evt_1"]}
    assert (count(live.ctx, webhook_intake), count(live.ctx, surveys)) == (1, 0)

    live.clock.advance(timedelta(minutes=40))  # the worker was away for a while
    assert live.worker().schedule_queued() == 1
    assert count(live.ctx, webhook_intake) == 0
    with live.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(surveys)).one()
        event = conn.execute(sa.select(webhook_events)).one()
    # The delay (1 hour), the dates and the throttle window count from the webhook's arrival.
    assert (row.state, row.ticket_id) == ("scheduled", "T-1001")
    assert row.created_at == arrived and row.due_at == arrived + timedelta(hours=1)
    assert (event.outcome, event.received_at) == ("scheduled", arrived)


def test_readyz_reports_the_queue_for_monitoring_and_stays_ready(queued: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    live = queued
    assert live.http.get("/readyz").json()["intake"] == {"waiting": 0, "failed": 0, "oldest_waiting_seconds": None}
    for n in (1, 2, 3):
        assert live.post_generic(generic_event(n)).status_code == 202
    live.clock.advance(timedelta(seconds=90))
    with live.ctx.engine.begin() as conn:  # one row a worker could not schedule
        first = conn.execute(sa.select(sa.func.min(webhook_intake.c.id))).scalar_one()
        conn.execute(
            webhook_intake.update().where(webhook_intake.c.id == first).values(failed_at=live.clock.now(), error="X")
        )
    ready = live.http.get("/readyz")
    assert ready.status_code == 200  # a queue never makes the process unready: it still takes webhooks
    assert ready.json()["intake"] == {"waiting": 2, "failed": 1, "oldest_waiting_seconds": 90.0}
    monkeypatch.setattr(intake_module, "GAUGE_LIMIT", 1)  # a backlog: the probe stops counting
    assert live.http.get("/readyz").json()["intake"]["waiting"] == 1
    WebhookIntake(live.ctx.surveys).drain_for()
    assert live.http.get("/readyz").json()["intake"] == {"waiting": 0, "failed": 1, "oldest_waiting_seconds": None}


def test_concurrent_posts_are_each_stored_before_their_answer_and_make_one_survey_per_event(queued: Live) -> None:
    live = queued
    bodies = [generic_event(n) for n in range(8)] + [generic_event(3)]  # and a redelivery of event 3
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: post_alone(live, b), bodies))

    assert [a.status_code for a in answers] == [202] * 9
    assert count(live.ctx, webhook_intake) == 9  # every 202 is a stored row
    outcomes = Counter(s.outcome.status for s in WebhookIntake(live.ctx.surveys).drain_for())
    assert outcomes == {"scheduled": 8, "duplicate": 1}
    assert (count(live.ctx, surveys), count(live.ctx, webhook_intake)) == (8, 0)


def test_sqlite_a_held_write_lock_delays_the_answer_but_never_the_event_loop(
    make_live: Callable[..., Live], db_url: str
) -> None:
    live = make_live(database_url=db_url)
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a worker mid-write holds SQLite's one write lock
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(post_alone, live, generic_event(1))
            time.sleep(0.5)
            assert not answer.done()  # not stored yet, so not answered yet
            started = time.monotonic()
            assert httpx.get(f"{live.url}/livez", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0  # the loop serves others meanwhile
            other.execute("COMMIT")
            response = answer.result(20)
    finally:
        other.close()
    assert response.status_code == 202, response.text
    assert count(live.ctx, webhook_intake) == 1


def _refuse_intake(conn: sa.Connection) -> None:
    """A trigger that makes the database refuse intake rows of event `evt_refused`."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON webhook_intake WHEN NEW.payload LIKE '%evt_refused%' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        return
    conn.exec_driver_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.payload LIKE '%%evt_refused%%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
    )
    conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON webhook_intake FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_a_write_the_database_refuses_is_a_503_and_the_redelivery_is_stored(queued: Live) -> None:
    live = queued
    with live.ctx.engine.begin() as conn:
        _refuse_intake(conn)
    refused = live.post_generic(generic_event(1, id="evt_refused"))
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "30"
    assert count(live.ctx, webhook_intake) == 0  # nothing half-written

    assert live.post_generic(generic_event(2)).status_code == 202  # the next write works
    with live.ctx.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse" + ("" if conn.dialect.name == "sqlite" else " ON webhook_intake"))
    assert live.post_generic(generic_event(1, id="evt_refused")).status_code == 202  # the help desk redelivers
    assert count(live.ctx, webhook_intake) == 2


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("NPS_BOT_TEST_POSTGRES_URL not set (CI sets it)")
    yield from _pg_database(template=request.getfixturevalue("_pg_template"))


# The intake's two PostgreSQL drivers, by URL: asyncpg cannot read connect_timeout, so psycopg takes it.
BOTH_DRIVERS = pytest.mark.parametrize(("parameters", "driver"), [("", "asyncpg"), ("?connect_timeout=10", "psycopg")])


@BOTH_DRIVERS
def test_postgres_a_dropped_connection_is_replaced_without_losing_the_webhook(
    make_live: Callable[..., Live], pg_url: str, parameters: str, driver: str
) -> None:
    live = make_live(database_url=pg_url + parameters)
    assert pg_driver(live.ctx.engine).name == driver
    with httpx.Client(base_url=live.url, timeout=20) as plain:
        queued = Live(live.ctx, live.url, plain, live.clock)
        assert queued.post_generic(generic_event(1)).status_code == 202
        with live.ctx.engine.connect() as conn:  # a restart or an idle timeout drops every other session
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        live.ctx.engine.dispose()
        response = queued.post_generic(generic_event(2))
    assert response.status_code == 202, response.text
    assert count(live.ctx, webhook_intake) == 2


@BOTH_DRIVERS
def test_postgres_intake_stores_each_row_of_a_batch_as_it_was_given(pg_url: str, parameters: str, driver: str) -> None:
    # Quotes, backslashes, an escaped NUL, text beyond the BMP and a connector name that looks like SQL:
    # the rows travel as two text arrays and come back byte for byte.
    payloads = ['{"a": "say \\"hi\\""}', '{"b": "C:\\\\x \\u0000"}', '{"c": "Rūta 👍 ✓"}', "[]"]
    rows: list[Row] = list(zip(["generic", "a'); DROP", "x", "y"], payloads, strict=True))
    engine = create_engine_for(pg_url + parameters)
    assert pg_driver(engine).name == driver

    async def scenario() -> None:
        intake = intake_writer(engine)
        await asyncio.gather(*(intake.store(row) for row in rows))
        await intake.aclose()

    try:
        asyncio.run(scenario())
        with engine.connect() as conn:
            stored = conn.execute(sa.select(webhook_intake.c.connector, webhook_intake.c.payload)).all()
    finally:
        engine.dispose()
    assert sorted(map(tuple, stored)) == sorted(rows)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://nps:s3cr%40t%2Fx@db.internal:6432/nps?sslmode=verify-full&sslrootcert=/ca.pem", "asyncpg"),
        ("postgresql://nps@/nps?host=/var/run/postgresql", "asyncpg"),
        ("postgresql://nps@db/nps?sslmode=require&connect_timeout=5", "psycopg"),
        ("postgresql://nps@db/nps?options=-c%20statement_timeout%3D5000", "psycopg"),
    ],
)
def test_the_intake_talks_asyncpg_unless_the_url_has_parameters_only_libpq_reads(url: str, driver: str) -> None:
    engine = create_engine_for(url)
    chosen = pg_driver(engine)
    assert chosen.name == driver
    if driver == "asyncpg":  # the same server, user, password (escaped) and TLS settings
        dsn = sa.engine.make_url(chosen._dsn)  # type: ignore[attr-defined]
        assert dsn.drivername == "postgresql"
        assert (dsn.username, dsn.password, dsn.host, dsn.port, dsn.database, dict(dsn.query)) == (
            engine.url.username,
            engine.url.password,
            engine.url.host,
            engine.url.port,
            engine.url.database,
            dict(engine.url.query),
        )


def store(ctx: AppContext, payloads: list[str]) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(webhook_intake.insert(), [{"connector": "generic", "payload": p} for p in payloads])


@pytest.fixture
def core(any_db_url: str) -> Iterator[AppContext]:
    ctx = services(any_db_url, datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    yield ctx
    ctx.engine.dispose()


def test_a_row_that_cannot_be_scheduled_is_kept_as_failed_and_the_rest_go_on(core: AppContext) -> None:
    now = core.clock.now()
    store(
        core,
        [
            encode([closing(1)], now),
            "{not json",
            json.dumps({"received_at": now.isoformat(), "interactions": [{"connector": "generic"}]}),
            encode([closing(2), closing(3)], now),
        ],
    )
    intake = WebhookIntake(core.surveys)

    scheduled = intake.drain()

    assert sorted(s.interaction.event_id for s in scheduled) == ["e1", "e2", "e3"]
    assert {s.outcome.status for s in scheduled} == {"scheduled"}
    status = intake.status()
    assert (status.pending, status.failed) == (0, 2)
    assert status.errors == {"JSONDecodeError": 1, "ValidationError": 1}
    assert intake.drain() == []  # failed rows are not retried by themselves...
    assert intake.retry_failed() == 2  # ...but on demand (after a fix), and fail again here
    assert intake.drain() == [] and intake.status().failed == 2
    assert count(core, surveys) == 3


def test_an_outage_mid_batch_leaves_every_row_queued(core: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    now = core.clock.now()
    store(core, [encode([closing(n)], now) for n in range(3)])
    real = SurveyService.schedule_in
    calls = 0

    def second_call_loses_the_database(self: SurveyService, conn: sa.Connection, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real(self, conn, *args)

    monkeypatch.setattr(SurveyService, "schedule_in", second_call_loses_the_database)
    intake = WebhookIntake(core.surveys)
    with pytest.raises(sa.exc.OperationalError):
        intake.drain()
    assert (count(core, webhook_intake), count(core, surveys), count(core, webhook_events)) == (3, 0, 0)

    monkeypatch.setattr(SurveyService, "schedule_in", real)
    assert len(intake.drain()) == 3
    assert (count(core, webhook_intake), count(core, surveys)) == (0, 3)


def test_two_workers_draining_at_once_schedule_each_row_exactly_once(core: AppContext) -> None:
    now = core.clock.now()
    store(core, [encode([closing(n)], now) for n in range(120)])
    taken: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def work(mine: list[int]) -> None:
        intake = WebhookIntake(core.surveys)
        try:
            while scheduled := intake.drain(10):
                mine.extend(s.intake_id for s in scheduled)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 120
    assert (count(core, surveys), count(core, webhook_intake)) == (120, 0)


def test_the_worker_schedules_and_delivers_a_queued_webhook_in_one_poll(
    make_live: Callable[..., Live], db_url: str
) -> None:
    live = make_live(database_url=db_url, survey_delay=timedelta(0))
    assert post_alone(live, generic_event(1)).status_code == 202
    live.worker().run_once()
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(surveys.c.state)).scalar_one() == "sent"


def test_forget_drops_queued_webhooks_that_name_the_person_and_retention_drops_old_failed_ones(
    core: AppContext,
) -> None:
    now = core.clock.now()
    ruta = Interaction(
        connector="generic", event_id="e-ruta", ticket_id="T1", customer=Customer(email="Ruta@Example.com")
    )
    store(core, [encode([ruta], now), encode([closing(2)], now), "{broken"])

    erased = forget(core.engine, "RUTA@example.com", now, actor="test")

    assert erased.queued == 1
    with core.engine.connect() as conn:
        left = conn.execute(sa.select(webhook_intake.c.payload).order_by(webhook_intake.c.id)).scalars().all()
    assert not any("ruta@example.com" in p.lower() for p in left) and len(left) == 2
    intake = WebhookIntake(core.surveys)
    assert [s.interaction.event_id for s in intake.drain()] == ["e2"]
    assert intake.status().failed == 1
    assert purge_older_than(core.engine, now, now).queued == 0  # failed at `now`: not older
    assert purge_older_than(core.engine, now + timedelta(days=1), now).queued == 1
    assert intake.status().failed == 0


def test_any_error_scheduling_a_row_fails_that_row_only(core: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug or a value nothing foresaw must not block the queue: the row is kept as failed."""
    now = core.clock.now()
    store(core, [encode([closing(n)], now) for n in range(3)])
    real = SurveyPolicy.exclusion

    def breaks_on_ticket_1(self: SurveyPolicy, interaction: Interaction) -> str | None:
        if interaction.ticket_id == "T1":
            raise OverflowError("date value out of range")
        return real(self, interaction)

    monkeypatch.setattr(SurveyPolicy, "exclusion", breaks_on_ticket_1)
    intake = WebhookIntake(core.surveys)

    assert sorted(s.interaction.event_id for s in intake.drain()) == ["e0", "e2"]
    assert intake.status().errors == {"OverflowError": 1}
    assert intake.drain() == []  # not retried by itself: the queue moves on
    assert count(core, surveys) == 2


def test_a_backlog_is_scheduled_by_the_worker_once_per_row(core: AppContext) -> None:
    """More than a batch waits: the worker's polls take it batch by batch, each row once."""
    now = core.clock.now()
    store(core, [encode([closing(n)], now) for n in range(130)])
    worker = Worker(core, owner="test")
    handled = 0
    while scheduled := worker.schedule_queued():
        handled += scheduled
    assert handled == 130
    assert (count(core, surveys), count(core, webhook_intake)) == (130, 0)
    with core.engine.connect() as conn:
        outcomes = conn.execute(sa.select(webhook_events.c.outcome, sa.func.count()).group_by(webhook_events.c.outcome))
        assert dict(outcomes.all()) == {"scheduled": 130}


def test_serve_says_in_its_log_when_queued_webhooks_wait_too_long(
    make_live: Callable[..., Live], db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(web, "INTAKE_WATCH_SECONDS", 0.05)
    live = make_live(database_url=db_url)  # no worker: nothing drains
    intake = WebhookIntake(live.ctx.surveys)
    assert post_alone(live, generic_event(1)).status_code == 202
    assert intake.lag_warning(live.clock.now() + timedelta(minutes=4)) is None  # a worker may be on it

    with caplog.at_level("WARNING", logger="nps_bot.web"):
        live.clock.advance(timedelta(minutes=7))
        deadline = time.monotonic() + 5
        while not any("waited 7 min" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no warning in serve's log"
            time.sleep(0.05)
    intake.drain()
    assert intake.lag_warning(live.clock.now()) is None


def test_sqlite_a_refused_write_through_the_writer_thread_is_a_503_too(
    make_live: Callable[..., Live], db_url: str
) -> None:
    live = make_live(database_url=db_url)
    with live.ctx.engine.begin() as conn:
        _refuse_intake(conn)
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # busy: the row goes to the writer thread, which waits
    try:
        with ThreadPoolExecutor(1) as pool:
            body = generic_event(1, id="evt_refused")
            answer = pool.submit(post_alone, live, body)
            time.sleep(0.3)
            other.execute("COMMIT")
            response = answer.result(20)
    finally:
        other.close()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "30"
    assert count(live.ctx, webhook_intake) == 0


def test_only_serve_freezes_its_start_up_objects_out_of_the_collector(core: AppContext) -> None:
    before = gc.get_freeze_count()
    with BackgroundServer(web.create_app(core)):
        assert gc.get_freeze_count() == before  # tests and embedders build many apps: nothing frozen
    try:
        with BackgroundServer(web.create_app(core, freeze_after_start=True)):
            assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


class FakeDriver:
    """A lane driver without a database. A round trip takes `delay`; connection `held` answers only once
    `released`; with `error`, connection 1 fails with it after its first batch (`is_dropped`: the driver
    calls that error a dropped connection; `closes`: the error leaves the connection closed)."""

    name = "fake"

    def __init__(
        self,
        delay: float = 0.0,
        held: int | None = None,
        error: Exception | None = None,
        is_dropped: bool = False,
        closes: bool = False,
    ) -> None:
        self.delay, self.held = delay, held
        self.error, self.is_dropped, self.closes = error, is_dropped, closes
        self.released = asyncio.Event()
        self.connections = 0
        self.failed = False
        self.batches: list[tuple[int, list[Row]]] = []  # (connection, rows), in the order stored

    async def connect(self) -> int:
        self.connections += 1
        return self.connections

    async def insert(self, conn: int, rows: list[Row]) -> None:
        await asyncio.sleep(self.delay)
        if conn == self.held:
            await self.released.wait()
        if self.error is not None and conn == 1 and self.batches:  # the held connection, gone while idle
            self.failed = True
            raise self.error
        self.batches.append((conn, rows))

    def closed(self, conn: int) -> bool:
        # Open until used, as a connection that died while idle looks; `closes`: closed by the error.
        return self.closes and self.failed and conn == 1

    async def close(self, conn: int) -> None:
        pass

    def dropped(self, exc: Exception) -> bool:
        return self.is_dropped

    def sizes(self) -> list[tuple[int, int]]:
        """(connection, rows) of each batch."""
        return [(conn, len(rows)) for conn, rows in self.batches]


@pytest.mark.parametrize(
    ("is_dropped", "closes", "retried"),
    [
        (True, False, True),  # an error that means "connection gone"
        (False, True, True),  # any error that left the connection closed (asyncpg's state errors)
        (False, False, False),  # the database refused the batch: no second try, a 503
    ],
)
def test_postgres_intake_retries_a_batch_once_on_a_new_connection_only_when_the_old_one_dropped(
    is_dropped: bool, closes: bool, retried: bool
) -> None:
    driver = FakeDriver(error=RuntimeError("boom"), is_dropped=is_dropped, closes=closes)
    engine = create_engine_for("postgresql://nps@db/nps")

    async def scenario() -> None:
        intake = PostgresIntake(engine, lanes=1, driver=driver)
        await intake.store(("generic", "{}"))
        if retried:
            await intake.store(("generic", '{"n": 2}'))
        else:
            with pytest.raises(IntakeUnavailable):
                await intake.store(("generic", '{"n": 2}'))
        await intake.aclose()

    asyncio.run(scenario())
    assert driver.batches[0][0] == 1
    if retried:
        assert driver.batches[1] == (2, [("generic", '{"n": 2}')])
    else:
        assert len(driver.batches) == 1 and driver.connections == 1


def test_asyncpg_errors_that_end_a_connection_are_told_from_the_rest() -> None:
    driver = _Asyncpg("postgresql://nps@db/nps")
    assert driver.dropped(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert driver.dropped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert driver.dropped(asyncpg.InterfaceError("connection is closed"))
    assert driver.dropped(ConnectionResetError())
    assert not driver.dropped(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not driver.dropped(asyncpg.exceptions.RaiseError("refused"))


def test_postgres_intake_rows_arriving_during_a_batch_go_together_in_the_next_on_one_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_intake, "PG_SPARE_AFTER_SECONDS", 1.0)  # a busy machine never looks stalled

    async def scenario() -> FakeDriver:
        driver = FakeDriver(delay=0.05)  # a slow round trip, not a stalled one
        intake = store_intake.PostgresIntake(create_engine_for("postgresql://nps@db/nps"), driver=driver)
        first = asyncio.create_task(intake.store(("generic", '{"n": 0}')))
        await asyncio.sleep(0.01)  # its batch is in flight
        await asyncio.gather(first, *(intake.store(("generic", f'{{"n": {n}}}')) for n in range(1, 11)))
        await intake.aclose()
        return driver

    driver = asyncio.run(scenario())
    # The ten that came during the first batch wait for it and go as one batch, on the same connection.
    assert driver.sizes() == [(1, 1), (1, 10)] and driver.connections == 1


def test_postgres_intake_a_spare_connection_takes_over_from_a_stalled_one() -> None:
    async def scenario() -> FakeDriver:
        driver = FakeDriver(held=1)
        intake = PostgresIntake(create_engine_for("postgresql://nps@db/nps"), driver=driver)
        stalled = asyncio.create_task(intake.store(("generic", '{"n": 1}')))
        await asyncio.sleep(store_intake.PG_SPARE_AFTER_SECONDS * 2)
        await asyncio.wait_for(intake.store(("generic", '{"n": 2}')), 1)  # stored beside the stalled one
        assert not stalled.done()
        driver.released.set()
        await stalled
        await intake.aclose()
        return driver

    driver = asyncio.run(scenario())
    assert driver.sizes() == [(2, 1), (1, 1)]
