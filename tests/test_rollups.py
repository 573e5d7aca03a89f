"""Report rollups stay equal to the raw figures through every write path, on SQLite and PostgreSQL.

Random sequences of ticket closes, re-opens, re-closes, sends (and other delivery outcomes), answers,
score changes, comments, imported answers, renames, forgets, retention purges and deletions over
several weeks and segments; after them every report (each kind, dimension and period, including
periods that start or end mid-day) and trend read through the rollups equals the raw aggregation
(`rollups=False`), and a rebuild from the raw rows leaves the same figures. How a report splits a
period between rollup rows and raw rows (`read_plan`) is checked on its own, instant by instant.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from nps_bot.app import AppContext
from nps_bot.cli import main
from nps_bot.delivery import claims
from nps_bot.models import SCALES, Agent, Customer, Interaction
from nps_bot.reporting import rollups
from nps_bot.reporting.periods import Period, parse_period
from nps_bot.reporting.queries import DIMENSIONS, EdgePiece, read_plan, score_report, weekly_trend
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import report_rollups, responses, surveys
from nps_bot.surveys.privacy import forget, purge_older_than
from nps_bot.surveys.service import SurveyError
from tests.db_helpers import write_survey
from tests.support.app import services

START = datetime(2026, 10, 5, 7, 13, 21, tzinfo=UTC)  # a Monday, early and off the hour
KINDS = ("nps", "csat", "ces")
DIMS = (None, "team", "agent", "channel", "helpdesk", "connector", "language", "tag", "plan", "region", "absent")
EMAILS = [f"c{i}@example.com" for i in range(6)]
TEAMS = ["Billing", "Tech", "", None]
AGENTS = ["ana", "bob", "cy", None]


@pytest.fixture
def ctx(any_db_url: str) -> Iterator[AppContext]:
    context = services(any_db_url, START, throttle_days=0)
    yield context
    context.engine.dispose()


class World:
    """Drives the real services with random operations; remembers the tickets it closed."""

    def __init__(self, ctx: AppContext, seed: int) -> None:
        self.ctx = ctx
        self.rnd = random.Random(seed)
        self.tickets: list[tuple[str, str, str]] = []  # (connector, ticket id, kind)
        self.events = 0

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    def _event(self) -> str:
        self.events += 1
        return f"ev{self.events}"

    def interaction(self, ticket: tuple[str, str, str] | None = None, event: str = "closed") -> Interaction:
        r = self.rnd
        connector, ticket_id, kind = ticket or (r.choice(["generic", "zendesk"]), f"T{self.events}", r.choice(KINDS))
        attributes = {"plan": r.choice(["pro", "free", ""])} if r.random() < 0.7 else {}
        if r.random() < 0.4:
            attributes["region"] = r.choice(["eu", "us"])
        agent = r.choice(AGENTS)
        return Interaction(
            connector=connector,
            event_id=self._event(),
            event=event,  # type: ignore[arg-type]
            ticket_id=ticket_id,
            kind=kind,  # type: ignore[arg-type]
            team=r.choice(TEAMS),
            channel=r.choice(["email", "chat", None]),
            tags=tuple(r.sample(["vip", "refund", "bug"], r.randrange(3))),
            agent=Agent(name=agent) if agent else None,
            customer=Customer(email=r.choice(EMAILS), language=r.choice(["en", "lt", None]), attributes=attributes),
        )

    def survey_rows(self) -> list[Any]:
        with self.ctx.engine.connect() as conn:
            return list(conn.execute(sa.select(surveys.c.id, surveys.c.token, surveys.c.state, surveys.c.kind)))

    # -- operations -----------------------------------------------------------------------------

    def close_ticket(self) -> None:
        interaction = self.interaction()
        self.ctx.surveys.schedule(interaction)
        self.tickets.append((interaction.connector, interaction.ticket_id, interaction.kind))

    def reopen_or_reclose(self) -> None:
        if self.tickets:
            event = self.rnd.choice(["reopened", "closed"])
            self.ctx.surveys.schedule(self.interaction(self.rnd.choice(self.tickets), event))

    def deliver(self) -> None:
        engine, now = self.ctx.engine, self.now
        for sid in claims.claim_due(engine, "w", now, timedelta(minutes=5), self.rnd.randrange(1, 6)):
            outcome = self.rnd.random()
            if outcome < 0.75:
                claims.finish(engine, sid, "w", now, state="sent", sent_at=now)
            elif outcome < 0.85:
                claims.finish(engine, sid, "w", now, state=self.rnd.choice(["expired", "failed", "undeliverable"]))
            elif outcome < 0.95:
                claims.release(engine, [sid], "w", now)
            # else: left in `sending` (a worker that died); the lease runs out and it is claimed again

    def answer(self) -> None:
        rows = self.survey_rows()
        if not rows:
            return
        row = self.rnd.choice(rows)
        low, high = SCALES[row.kind]
        try:
            self.ctx.surveys.record_score(row.token, self.rnd.randint(low, high), source="web")
            if self.rnd.random() < 0.3:
                self.ctx.surveys.record_comment(row.token, self.rnd.choice(["fine", "", "slow"]))
        except SurveyError:
            pass  # not open (unsent, expired...): nothing changes

    def external_answer(self) -> None:
        ticket = self.rnd.choice(self.tickets) if self.tickets and self.rnd.random() < 0.5 else None
        interaction = self.interaction(ticket)
        low, high = SCALES[interaction.kind]
        answered_at = self.now - timedelta(hours=self.rnd.uniform(0, 200))
        self.ctx.surveys.record_external_answer(
            interaction, self.rnd.randint(low, high), comment="imported", answered_at=answered_at, source="nicereply"
        )
        self.tickets.append((interaction.connector, interaction.ticket_id, interaction.kind))

    def rename(self) -> None:
        rows = self.survey_rows()
        if rows:
            r = self.rnd
            self.ctx.surveys.set_display_names(
                r.choice(rows).id,
                agent_name=r.choice(["Ana Smith", None]),
                team=r.choice(["Support", None]),
                attributes={"plan": r.choice(["Pro plan", "Free plan"])},
            )

    def forget(self) -> None:
        forget(self.ctx.engine, self.rnd.choice(EMAILS), self.now, actor="test")

    def purge(self) -> None:
        purge_older_than(self.ctx.engine, self.now - timedelta(days=self.rnd.randrange(1, 10)), self.now)

    def delete(self) -> None:
        rows = self.survey_rows()
        if rows:
            with self.ctx.engine.begin() as conn:
                rollups.delete_surveys(conn, [self.rnd.choice(rows).id])

    def tick(self) -> None:
        self.ctx.clock.advance(timedelta(minutes=self.rnd.randrange(30, 36 * 60)))  # type: ignore[attr-defined]

    def step(self) -> None:
        ops = [
            (self.close_ticket, 6),
            (self.deliver, 5),
            (self.answer, 6),
            (self.reopen_or_reclose, 2),
            (self.external_answer, 1),
            (self.rename, 1),
            (self.forget, 0.3),
            (self.purge, 0.2),
            (self.delete, 0.3),
            (self.tick, 2),
        ]
        op = self.rnd.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        op()


def periods(now: datetime) -> list[Period]:
    first = (now - timedelta(days=12)).date()
    return [
        parse_period("7d", now),
        parse_period("30d", now),
        parse_period("all", now),
        parse_period("this-week", now),
        parse_period(f"{first}..{now.date()}", now),
        Period(now - timedelta(hours=5), now, "a few hours"),  # inside one or two days
        # Ending in the past, mid-day: the rest of its last day has answers, taken out of that day's rollup.
        Period(now - timedelta(days=6, hours=7), now - timedelta(days=1, hours=13), "past, mid-day"),
        Period(now - timedelta(hours=40), now - timedelta(hours=9), "two partial days, no whole one"),
    ]


def assert_reports_equal_raw(engine: sa.Engine, now: datetime, dims: tuple[str | None, ...] = DIMS) -> int:
    checked = 0
    for kind in KINDS:
        for period in periods(now):
            for dim in dims:
                ours = score_report(engine, period, dim, kind=kind, min_n=2)  # type: ignore[arg-type]
                raw = score_report(engine, period, dim, kind=kind, min_n=2, rollups=False)  # type: ignore[arg-type]
                assert ours == raw, (kind, period, dim)
                checked += 1
        for dim, value in [(None, None), ("team", "Billing"), ("team", ""), ("tag", "vip"), ("plan", "pro")]:
            ours_t = weekly_trend(engine, 8, now, kind=kind, dimension=dim, value=value)  # type: ignore[arg-type]
            raw_t = weekly_trend(engine, 8, now, kind=kind, dimension=dim, value=value, rollups=False)  # type: ignore[arg-type]
            assert ours_t == raw_t, (kind, dim, value)
    return checked


def rollup_table(engine: sa.Engine) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Rows without the all-zero ones (a contribution taken back leaves a zero row behind)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(report_rollups)).all()
    return {tuple(r[:4]): tuple(r[4:]) for r in rows if any(r[4:])}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_keep_rollups_equal_to_raw(ctx: AppContext, seed: int) -> None:
    world = World(ctx, seed)
    for checkpoint, dims in enumerate([(None, "team", "tag", "plan"), DIMS]):
        for _ in range(100):
            world.step()
        checked = assert_reports_equal_raw(ctx.engine, world.now, dims)
        assert checked == len(KINDS) * len(dims) * len(periods(world.now)), checkpoint
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(responses)).scalar_one() > 10
        assert conn.execute(sa.select(sa.func.count()).where(surveys.c.sent_at.is_not(None))).scalar_one() > 10
    incremental = rollup_table(ctx.engine)
    with ctx.engine.begin() as conn:
        rollups.rebuild(conn)
    assert rollup_table(ctx.engine) == incremental  # row for row, as a rebuild computes them
    assert_reports_equal_raw(ctx.engine, world.now)


def test_rollups_are_read_not_raw_rows(ctx: AppContext) -> None:
    """Guards the comparison above against passing vacuously: a report over whole days reads only the
    rollups (a hand-edited rollup row shows), one starting mid-day takes its edge days from raw rows."""
    world = World(ctx, 9)
    for _ in range(60):
        world.step()
    now = world.now
    whole = Period(datetime.combine(now.date() - timedelta(days=20), datetime.min.time(), UTC), now, "whole")
    before = score_report(ctx.engine, whole, kind="nps", compare=False)
    day = now.date() - timedelta(days=3)
    with ctx.engine.begin() as conn:  # five promoters no answer row has
        rollups.add(conn, {("nps", rollups.EVERYONE, day, ""): [5, 0, 0, 5, 5, 50, 500, 0, 0]})
    after = score_report(ctx.engine, whole, kind="nps", compare=False)
    assert after.overall.counts.promoters == before.overall.counts.promoters + 5
    raw = score_report(ctx.engine, whole, kind="nps", compare=False, rollups=False)
    assert raw.overall.counts == before.overall.counts


def test_whole_days_split() -> None:
    start = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    end = datetime(2026, 1, 5, 0, 0, 1, tzinfo=UTC)
    days, edges = rollups.whole_days(start, end)
    assert days == (date(2026, 1, 2), date(2026, 1, 5))
    assert edges == [(start, datetime(2026, 1, 2, tzinfo=UTC)), (datetime(2026, 1, 5, tzinfo=UTC), end)]
    midnight = datetime(2026, 1, 1, tzinfo=UTC)
    assert rollups.whole_days(midnight, midnight + timedelta(days=2)) == ((date(2026, 1, 1), date(2026, 1, 3)), [])
    assert rollups.whole_days(start, start + timedelta(hours=3)) == (None, [(start, start + timedelta(hours=3))])


def test_every_report_dimension_is_rolled_up() -> None:
    assert {c.name for c in DIMENSIONS.values()} == set(rollups.SEGMENT_COLUMNS)


def _raw_survey(conn: sa.Connection, i: int, at: datetime, score: int | None, team: str | None) -> None:
    """Written behind the services' back: the rollups know nothing of it until a rebuild."""
    write_survey(conn, i, score, at, team=team, tags=("vip",), plan="pro" if i % 2 else "free")


def test_migration_fills_rollups_for_existing_answers(blank_db_url: str) -> None:
    engine = create_engine_for(blank_db_url)
    try:
        migrate(engine, "0008")
        now = START + timedelta(days=20)
        with engine.begin() as conn:
            for i in range(1, 40):
                at = now - timedelta(hours=11 * i)
                _raw_survey(conn, i, at, None if i % 5 == 0 else i % 11, ["Billing", None][i % 2])
        migrate(engine)
        assert rollup_table(engine), "the migration filled the rollups"
        assert_reports_equal_raw(engine, now)
    finally:
        engine.dispose()


def test_rebuild_command_recomputes_from_raw_rows(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    world = World(ctx, 5)
    for _ in range(60):
        world.step()
    expected = rollup_table(ctx.engine)
    with ctx.engine.begin() as conn:
        conn.execute(report_rollups.delete())
        _raw_survey(conn, 10_000, world.now - timedelta(days=2), 3, "Tech")  # written behind the service's back
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", ctx.settings.database_url)
    assert main(["rollups", "rebuild"]) == 0
    assert "rollups rebuilt" in capsys.readouterr().out
    rebuilt = rollup_table(ctx.engine)
    assert rebuilt != expected and set(expected) <= set(rebuilt)
    assert_reports_equal_raw(ctx.engine, world.now)


def test_deleting_surveys_takes_their_share_out(ctx: AppContext) -> None:
    world = World(ctx, 11)
    for _ in range(80):
        world.step()
    with ctx.engine.connect() as conn:
        answered = list(conn.execute(sa.select(responses.c.survey_id)).scalars())
    assert answered
    with ctx.engine.begin() as conn:
        assert rollups.delete_surveys(conn, answered[: len(answered) // 2 + 1]) == len(answered) // 2 + 1
    assert_reports_equal_raw(ctx.engine, world.now)


# -- how a report splits a period between rollups and raw rows ------------------------------------


def _coverage(ranges: Any, owners: list[int], pieces: list[EdgePiece], bucket: int, at: datetime) -> int:
    """How many times the plan counts an answer at `at` into `bucket` (rollup days + raw pieces - raw)."""
    day = at.date()
    n = sum(1 for r, o in zip(ranges, owners, strict=True) if o == bucket and r and r[0] <= day < r[1])
    n += sum(1 for p in pieces if p.plus == bucket and p.start <= at < p.end)
    return n - sum(1 for p in pieces if p.minus == bucket and p.start <= at < p.end)


def _raw_hours(pieces: list[EdgePiece], horizon: datetime) -> float:
    return sum(max((min(p.end, horizon) - p.start).total_seconds(), 0) for p in pieces) / 3600


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC)),
    length=st.timedeltas(timedelta(microseconds=1), timedelta(days=40)),
    compare=st.booleans(),
)
def test_read_plan_counts_every_instant_once(start: datetime, length: timedelta, compare: bool) -> None:
    """Each instant of the period (bucket 0) and of the previous one (bucket 1) is counted exactly once
    and nothing else is counted: checked at every boundary of the plan and between them."""
    period = Period(start, start + length, "p")
    ranges, owners, pieces = read_plan(period, compare)
    intervals = {0: (period.start, period.end)}
    if compare:
        intervals[1] = (period.previous().start, period.previous().end)
    points = {t for a, b in intervals.values() for t in (a, b)}
    points |= {t for p in pieces for t in (p.start, p.end)}
    points |= {rollups.midnight(d) for r in ranges if r for d in r}
    ordered = sorted(points)
    probes = ordered + [a + (b - a) / 2 for a, b in pairwise(ordered)]
    probes += [t - timedelta(microseconds=1) for t in ordered]
    for t in probes:
        for bucket, (a, b) in intervals.items():
            assert _coverage(ranges, owners, pieces, bucket, t) == int(a <= t < b), (t, bucket)
        if not compare:
            assert _coverage(ranges, owners, pieces, 1, t) == 0
    # Never more raw hours than reading the partial days as they are (the plan before rollup - raw).
    edges = [e for a, b in intervals.values() for e in rollups.whole_days(a, b)[1]]
    assert _raw_hours(pieces, period.end) <= sum((b - a).total_seconds() for a, b in edges) / 3600 + 1e-6
    if compare and length >= timedelta(days=1):
        assert _raw_hours(pieces, period.end) <= 24  # at most min(t, 24 h - t) for each of two days


def test_read_plan_for_a_weekly_digest() -> None:
    """7 days at 14:37 (and the 7 before): the three evening pieces, 18.8 h of raw rows instead of 48 h."""
    now = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)
    period = parse_period("7d", now)
    ranges, owners, pieces = read_plan(period, True)
    day = timedelta(days=1)
    nov = [datetime(2026, 11, d, tzinfo=UTC) for d in range(1, 22)]
    assert [(p.start, p.end, p.plus, p.minus) for p in pieces] == [
        (period.previous().start, nov[6], 1, None),  # 6 Nov from 14:37: read as it is
        (period.start, nov[13], 0, 1),  # 13 Nov from 14:37: current; its rollup row went to previous
        (period.end, nov[20], None, 0),  # today after now: out of today's rollup row (nothing there yet)
    ]
    assert list(zip(ranges, owners, strict=True)) == [
        ((nov[13].date(), nov[19].date()), 0),
        ((nov[6].date(), nov[12].date()), 1),
        ((nov[12].date(), nov[13].date()), 1),
        ((nov[19].date(), nov[19].date() + day), 0),
    ]
    assert round(_raw_hours(pieces, period.end), 1) == 18.8


def test_partial_days_read_their_rollup_rows(ctx: AppContext) -> None:
    """Guards the equality tests against passing vacuously: a partial day whose rollup row a report
    reads (then subtracts raw rows from) shows a hand-edited rollup row; the raw figures do not."""
    world = World(ctx, 13)
    for _ in range(80):
        world.step()
    end = datetime.combine(world.now.date(), datetime.min.time(), UTC) + timedelta(hours=20)
    period = Period(end - timedelta(days=7), end, "7 days to 20:00")
    _, _, pieces = read_plan(period, False)
    assert [(p.plus, p.minus) for p in pieces] == [(0, None), (None, 0)]  # first day as is, last from its row
    before = score_report(ctx.engine, period, kind="nps", compare=False)
    with ctx.engine.begin() as conn:
        rollups.add(conn, {("nps", rollups.EVERYONE, end.date(), ""): [3, 0, 0, 3, 3, 30, 300, 0, 0]})
    after = score_report(ctx.engine, period, kind="nps", compare=False)
    assert after.overall.counts.promoters == before.overall.counts.promoters + 3
    raw = score_report(ctx.engine, period, kind="nps", compare=False, rollups=False)
    assert raw.overall.counts == before.overall.counts


def test_a_write_between_a_reports_reads_is_not_half_seen(ctx: AppContext) -> None:
    """The rollup row of the last day is read first, the raw rows after the period end are subtracted
    from it next: an answer committed in between (after the period, so in neither) must not be
    subtracted without having been added. The report's reads share one snapshot."""
    world = World(ctx, 17)
    for _ in range(80):
        world.step()
    end = datetime.combine(world.now.date(), datetime.min.time(), UTC) + timedelta(hours=20)
    period = Period(end - timedelta(days=7), end, "7 days to 20:00")
    expected = score_report(ctx.engine, period, kind="nps", compare=False)
    writer = create_engine_for(ctx.settings.database_url)
    fired: list[str] = []

    def answer_in_between(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "report_rollups" in statement and not fired:
            fired.append(statement)
            with writer.begin() as conn:
                _raw_survey(conn, 50_000, end + timedelta(hours=1), 10, "Billing")
                sid = conn.execute(sa.select(surveys.c.id).where(surveys.c.token == "t50000")).scalar_one()
                rollups.add(conn, rollups.contributions(conn, [sid]))

    sa.event.listen(ctx.engine, "after_cursor_execute", answer_in_between)
    try:
        during = score_report(ctx.engine, period, kind="nps", compare=False)
    finally:
        sa.event.remove(ctx.engine, "after_cursor_execute", answer_in_between)
        writer.dispose()
    assert fired, "the answer was written between the reads"
    assert during == expected
    assert score_report(ctx.engine, period, kind="nps", compare=False) == expected  # outside the period
    assert_reports_equal_raw(ctx.engine, world.now, (None, "team"))
