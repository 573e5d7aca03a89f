"""The store on every supported database: idempotent scheduling, leased claims, answers, reports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.delivery import claims
from nps_bot.models import Customer, Interaction
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.store.schema import responses, surveys
from nps_bot.surveys.service import SurveyNotFound, SurveyNotOpen
from tests.support.app import services

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def ctx(any_db_url: str) -> Iterator[AppContext]:
    context = services(any_db_url, START)
    yield context
    context.engine.dispose()


def interaction(n: int, **fields: object) -> Interaction:
    data: dict[str, object] = {
        "connector": "generic",
        "event_id": f"evt_{n}",
        "ticket_id": f"T-{n}",
        "team": "Billing" if n % 2 else "Tech",
        "tags": ["a", "b"] if n % 3 == 0 else ["a"],
        "customer": Customer(email=f"c{n}@example.com", attributes={"plan": "pro" if n % 2 else "free"}),
    }
    data.update(fields)
    return Interaction.model_validate(data)


def test_migrations_are_idempotent(ctx: AppContext) -> None:
    from nps_bot.store import migrate

    migrate(ctx.engine)  # second run: nothing to do, no error
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() is not None


def test_concurrent_duplicate_webhooks_make_one_survey(ctx: AppContext) -> None:
    results: list[str] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        barrier.wait()
        results.append(ctx.surveys.schedule(interaction(1)).status)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate"] * 5 + ["scheduled"]
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(surveys)).scalar() == 1


def test_two_workers_never_claim_the_same_survey(ctx: AppContext) -> None:
    for n in range(40):
        ctx.surveys.schedule(interaction(n))
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def claim(owner: str) -> None:
        barrier.wait()
        while ids := claims.claim_due(ctx.engine, owner, START, timedelta(minutes=2), 3):
            claimed[owner].extend(ids)

    threads = [threading.Thread(target=claim, args=(o,)) for o in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed["a"] + claimed["b"]) == sorted(set(claimed["a"] + claimed["b"]))
    assert len(claimed["a"]) + len(claimed["b"]) == 40


def test_stolen_lease_cannot_overwrite(ctx: AppContext) -> None:
    ctx.surveys.schedule(interaction(1))
    (sid,) = claims.claim_due(ctx.engine, "slow", START, timedelta(minutes=2), 10)
    later = START + timedelta(minutes=3)
    assert claims.claim_due(ctx.engine, "fast", later, timedelta(minutes=2), 10) == [sid]
    assert not claims.finish(ctx.engine, sid, "slow", later, state="sent")
    assert claims.finish(ctx.engine, sid, "fast", later, state="sent", sent_at=later)


def _send_all(ctx: AppContext) -> list[str]:
    ids = claims.claim_due(ctx.engine, "w", ctx.clock.now(), timedelta(minutes=2), 100)
    for sid in ids:
        claims.finish(ctx.engine, sid, "w", ctx.clock.now(), state="sent", sent_at=ctx.clock.now())
    with ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(surveys.c.token).order_by(surveys.c.id)).scalars())


def test_answers_change_but_never_duplicate(ctx: AppContext) -> None:
    ctx.surveys.schedule(interaction(1))
    with pytest.raises(SurveyNotOpen):
        ctx.surveys.record_score(_tokens_unsent(ctx)[0], 5, source="test")
    (token,) = _send_all(ctx)
    first = ctx.surveys.record_score(token, 4, source="test")
    assert first.previous_score is None
    ctx.surveys.record_comment(token, "slow")
    second = ctx.surveys.record_score(token, 9, source="test")
    assert (second.previous_score, second.score, second.comment) == (4, 9, "slow")
    with ctx.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(responses.c.score, responses.c.comment))] == [(9, "slow")]


def _tokens_unsent(ctx: AppContext) -> list[str]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(surveys.c.token)).scalars())


def test_report_counts_in_sql(ctx: AppContext) -> None:
    for n in range(1, 13):
        ctx.surveys.schedule(interaction(n))
    tokens = _send_all(ctx)
    scores = [10, 9, 9, 8, 7, 6, 0, 10, 10, 3, 9, 10]  # 7 promoters, 2 passives, 3 detractors
    for token, score in zip(tokens[:11], scores, strict=False):
        ctx.surveys.record_score(token, score, source="test")
    period = parse_period("30d", ctx.clock.now())
    report = score_report(ctx.engine, period, min_n=5)
    counts = report.overall.counts
    assert (counts.promoters, counts.passives, counts.detractors) == (6, 2, 3)
    assert report.overall.sent == 12
    assert report.overall.answered_of_sent == 11
    assert report.overall.estimate.value == pytest.approx(100 * (6 - 3) / 11)

    by_team = {s.key: s.counts for s in score_report(ctx.engine, period, "team", min_n=5).segments}
    # odd tickets are Billing: scores at n=1,3,5,7,9,11 → 10, 9, 7, 0, 10, 9
    assert (by_team["Billing"].promoters, by_team["Billing"].passives, by_team["Billing"].detractors) == (4, 1, 1)
    by_tag = {s.key: s.counts.n for s in score_report(ctx.engine, period, "tag").segments}
    assert by_tag == {"a": 11, "b": 3}, "a survey counts once in every tag it carries"
    by_plan = {s.key: s.counts.n for s in score_report(ctx.engine, period, "plan").segments}
    assert by_plan == {"pro": 6, "free": 5}
    empty = score_report(ctx.engine, parse_period("2020-01-01..2020-01-31", ctx.clock.now()), "team")
    assert empty.overall.counts.n == 0 and empty.segments == ()


def test_migration_0005_moves_attempt_markers_into_columns(blank_db_url: str) -> None:
    from nps_bot.store import create_engine_for, migrate

    engine = create_engine_for(blank_db_url)
    try:
        migrate(engine, "0004")
        at = START.replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO subscriptions (id, kind, platform, channel_id, created_at) "
                    "VALUES (1, 'digest', 'slack', 'C1', :at)"
                ),
                {"at": at},
            )
            for hour, error in enumerate(
                ["[attempt 2] slack: ratelimited", "[attempt 1, gave up] slack: is_archived", "chart: failed", None]
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO digest_runs (subscription_id, slot_at, claimed_by, claimed_at, error) "
                        "VALUES (1, :slot, 'w', :at, :error)"
                    ),
                    {"slot": at + timedelta(hours=hour), "at": at, "error": error},
                )
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT error, attempts, gave_up FROM digest_runs ORDER BY slot_at")).all()
        assert [(r.error, r.attempts, bool(r.gave_up)) for r in rows] == [
            ("slack: ratelimited", 2, False),
            ("slack: is_archived", 1, True),
            ("chart: failed", 0, False),
            (None, 0, False),
        ]
    finally:
        engine.dispose()


def test_nul_characters_are_dropped_at_the_edge_on_every_database(ctx: AppContext) -> None:
    # PostgreSQL refuses NUL in text (a DataError, i.e. a 500); SQLite would store it. Same result on both.
    nul = interaction(
        7,
        event_id="evt\x00_7",
        ticket_id="T\x00-7",
        subject="Refund\x00 please",
        team="Bil\x00ling",
        tags=["vip\x00"],
        customer=Customer(email="c7@example.com", name="Ana\x00", attributes={"pl\x00an": "pro\x00"}),
    )
    assert ctx.surveys.schedule(nul).status == "scheduled"
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(surveys.c.ticket_id, surveys.c.subject, surveys.c.team)).one()
    assert tuple(row) == ("T-7", "Refund please", "Billing")
    with pytest.raises(SurveyNotFound):
        ctx.surveys.record_score("tok\x00en", 9, source="web")
    with ctx.engine.begin() as conn:
        conn.execute(surveys.update().values(state="sent", sent_at=START))
        token = conn.execute(sa.select(surveys.c.token)).scalar_one()
    ctx.surveys.record_score(token, 9, source="web")
    answer = ctx.surveys.record_comment(token, "fast\x00 and kind")
    assert answer.comment == "fast and kind"


def test_migration_0007_moves_the_alert_kind_out_of_dimension(blank_db_url: str) -> None:
    from nps_bot.followups.subscriptions import list_for
    from nps_bot.store import create_engine_for, migrate

    engine = create_engine_for(blank_db_url)
    try:
        migrate(engine, "0006")
        at = START.replace(tzinfo=None)
        rules = [(1, "alert", "C1", "csat"), (2, "alert", "C2", None), (3, "digest", "C3", "team")]
        with engine.begin() as conn:
            for id_, kind, channel, dimension in rules:
                conn.execute(
                    sa.text(
                        "INSERT INTO subscriptions (id, kind, platform, channel_id, created_at, dimension) "
                        "VALUES (:id, :kind, 'slack', :channel, :at, :dimension)"
                    ),
                    {"id": id_, "kind": kind, "channel": channel, "at": at, "dimension": dimension},
                )
        migrate(engine)
        got = {s.channel_id: (s.survey_kind, s.dimension) for s in list_for(engine)}
        assert got == {"C1": ("csat", None), "C2": ("nps", None), "C3": ("nps", "team")}
    finally:
        engine.dispose()
