"""Report figures against hand-computed fixtures, on SQLite and PostgreSQL (rows inserted directly)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from nps_bot.reporting import rollups
from nps_bot.reporting import text as report_text
from nps_bot.reporting.periods import Period, parse_period
from nps_bot.reporting.queries import (
    follow_up_stats,
    group_bounds,
    proportion_change,
    recent_comments,
    score_report,
    week_start,
    weekly_trend,
)
from nps_bot.reporting.scoring import nps_change
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import alerts, customers, subscriptions
from nps_bot.surveys.wording import SCALES, sentiment
from tests.db_helpers import write_survey

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture
def engine(any_db_url: str) -> Iterator[sa.Engine]:
    eng = create_engine_for(any_db_url)
    migrate(eng)
    yield eng
    eng.dispose()


_ids = iter(range(1, 1_000_000))


def add(
    engine: sa.Engine,
    score: int | None,
    at: datetime,
    *,
    team: str = "Billing",
    agent: str = "ana",
    comment: str | None = None,
    kind: str = "nps",
    sent_at: datetime | None = None,
    tags: tuple[str, ...] = (),
    plan: str | None = None,
    customer: str | None = None,
) -> int:
    """One survey sent at `sent_at` (default `at`), answered with `score` at `at` unless score is None."""
    i = next(_ids)
    sent = sent_at or at
    with engine.begin() as conn:
        customer_id = None
        if customer:
            customer_id = conn.execute(
                customers.insert().values(key=f"k{i}", name=customer, created_at=sent, updated_at=sent)
            ).inserted_primary_key[0]
        sid = write_survey(
            conn, i, score, at, sent_at=sent, team=team, agent=agent, kind=kind, comment=comment, tags=tags,
            plan=plan, customer_id=customer_id,
        )  # fmt: skip
        rollups.add(conn, rollups.contributions(conn, [sid]))  # rows written by hand: their rollup share too
    return sid


# -- score_report --------------------------------------------------------------------------------


def test_report_with_previous_period_and_change(engine: sa.Engine) -> None:
    period = parse_period("7d", NOW)
    cur = NOW - timedelta(days=1)
    prev = NOW - timedelta(days=10)
    for _ in range(20):
        add(engine, 10, cur, team="Billing")
    for _ in range(20):
        add(engine, 2, prev, team="Billing")
    add(engine, None, cur, team="Billing")  # sent, unanswered: response rate 20/21
    add(engine, 9, cur, team="Tech")  # single-answer segment, nothing before
    report = score_report(engine, period, "team", min_n=10)
    o = report.overall
    assert (o.counts.promoters, o.counts.passives, o.counts.detractors) == (21, 0, 0)
    assert (o.sent, o.answered_of_sent) == (22, 21)
    assert report.previous.counts.detractors == 20 and report.previous.counts.n == 20
    assert report.change.delta == pytest.approx(200.0) and report.change.significant
    assert report.change == nps_change(o.counts, report.previous.counts)
    billing, tech = report.segments
    assert billing.key == "Billing" and billing.n == 20 and billing.response_rate == pytest.approx(20 / 21)
    assert billing.previous is not None and billing.previous.counts.detractors == 20
    assert billing.change.significant
    assert tech.n == 1 and tech.estimate.value == 100.0 and tech.change.delta is None
    assert [s.key for s in report.ranked()] == ["Billing", "Tech"], "one answer is never ranked first"
    text = report_text.render(report)
    assert "▲ +200 vs previous period" in text
    assert "too few answers" in report_text.segment_table(report)


def test_no_significant_change_and_tag_overall(engine: sa.Engine) -> None:
    period = parse_period("7d", NOW)
    for score in (10, 9, 7, 3):  # NPS +25
        add(engine, score, NOW - timedelta(days=2), tags=("a", "b"))
    for score in (10, 8, 7, 3):  # NPS 0
        add(engine, score, NOW - timedelta(days=9), tags=("a",))
    report = score_report(engine, period, "tag", min_n=1)
    assert report.overall.n == 4 and report.overall.sent == 4, "overall counts each survey once"
    assert report.previous.n == 4
    assert {s.key: s.n for s in report.segments} == {"a": 4, "b": 4}
    assert not report.change.significant
    # NPS +25 vs 0 on 4 answers each: far inside the noise
    assert "▶ no significant change vs previous period (+25)" in report_text.headline(report)
    by_plan = score_report(engine, period, "plan")
    assert [(s.key, s.n) for s in by_plan.segments] == [(None, 4)]


def test_too_few_answers_never_sit_next_to_significant(engine: sa.Engine) -> None:
    period = parse_period("7d", NOW)
    for _ in range(8):
        add(engine, 10, NOW - timedelta(days=2))  # NPS +100 on 8 answers
    for _ in range(40):
        add(engine, 0, NOW - timedelta(days=9))  # NPS -100 on 40 answers before
    assert score_report(engine, period, min_n=5).change.significant, "with enough answers the move is real"
    report = score_report(engine, period, min_n=10)
    assert report.change.delta == 200.0 and not report.change.significant
    text = report_text.headline(report)
    assert "+200 vs previous period (too few answers to compare)" in text
    assert "significant" not in text and "too few answers to be reliable" in text


def test_empty_period(engine: sa.Engine) -> None:
    add(engine, 10, NOW - timedelta(days=1))
    period = Period(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 2, 1, tzinfo=UTC), "Jan 2020")
    report = score_report(engine, period, "team")
    assert report.overall.n == 0 and report.segments == () and report.overall.response_rate is None
    assert report.change.delta is None and not report.change.significant
    assert report_text.headline(report) == "NPS Jan 2020: no answers yet"


def test_csat_and_ces(engine: sa.Engine) -> None:
    at = NOW - timedelta(days=1)
    for score in (5, 4, 4, 3, 1):  # 3 of 5 satisfied
        add(engine, score, at, kind="csat")
    for score in (1, 2, 3, 6):  # mean 3, sum of squares 50
        add(engine, score, at, kind="ces")
    add(engine, 10, at)  # NPS answers do not leak into either
    period = parse_period("7d", NOW)
    csat = score_report(engine, period, kind="csat")
    assert csat.overall.n == 5 and csat.overall.satisfied == 3
    assert csat.overall.estimate.value == pytest.approx(60.0) and csat.overall.estimate.method == "wilson"
    assert report_text.headline(csat).startswith("CSAT last 7 days: 60 %")
    ces = score_report(engine, period, "team", kind="ces")
    est = ces.overall.estimate
    assert est.value == pytest.approx(3.0) and ces.overall.sum_squares == 50
    # sample variance (50 - 36/4) / 3 = 14/3
    assert est.margin == pytest.approx(1.959964 * (14 / 3 / 4) ** 0.5, rel=1e-5)
    assert [s.n for s in ces.segments] == [4]


# -- weekly_trend --------------------------------------------------------------------------------


def test_weekly_trend_buckets_and_boundaries(engine: sa.Engine) -> None:
    first = MONDAY - timedelta(weeks=3)
    add(engine, 0, first - timedelta(microseconds=1))  # just before the window: excluded
    add(engine, 10, first)  # first instant of week 0
    add(engine, 5, first + timedelta(weeks=1) - timedelta(microseconds=1))  # last instant of week 0
    add(engine, 9, MONDAY - timedelta(microseconds=1))  # last instant of week 2
    add(engine, 8, MONDAY)  # current week
    add(engine, 10, NOW)
    add(engine, 3, NOW - timedelta(days=1), kind="csat")  # another kind
    points = weekly_trend(engine, 4, NOW)
    assert [p.week_start for p in points] == [first + timedelta(weeks=i) for i in range(4)]
    assert week_start(NOW) == MONDAY
    assert [(p.counts.promoters, p.counts.passives, p.counts.detractors) for p in points] == [
        (1, 0, 1),
        (0, 0, 0),  # empty week kept
        (1, 0, 0),
        (1, 1, 0),
    ]
    assert points[1].estimate.value is None and points[3].estimate.value == 50.0
    assert len(weekly_trend(engine, 1, NOW)) == 1
    billing_only = weekly_trend(engine, 4, NOW, dimension="team", value="Nobody")
    assert sum(p.n for p in billing_only) == 0


# -- recent_comments -----------------------------------------------------------------------------


def test_recent_comments_filter_and_order(engine: sa.Engine) -> None:
    day = timedelta(days=1)
    add(engine, 10, NOW - 3 * day, comment="great", customer="Zoe", tags=("vip",))
    add(engine, 2, NOW - 4 * day, comment="slow", team="Tech", agent="bo", plan="pro")
    add(engine, 8, NOW - 1 * day, comment="ok")
    add(engine, 1, NOW - 2 * day, comment="")  # empty comment: not a verbatim
    add(engine, 0, NOW - 2 * day)  # no comment
    add(engine, 3, NOW - 40 * day, comment="old")  # outside the period
    period = parse_period("30d", NOW)
    assert [r.comment for r in recent_comments(engine, period)] == ["ok", "great", "slow"]
    assert [r.comment for r in recent_comments(engine, period, detractors_first=True)] == ["slow", "ok", "great"]
    assert [r.comment for r in recent_comments(engine, period, limit=1)] == ["ok"]
    assert [r.comment for r in recent_comments(engine, period, group="detractor")] == ["slow"]
    assert [r.comment for r in recent_comments(engine, period, group="passive")] == ["ok"]
    assert [r.comment for r in recent_comments(engine, period, segment=("team", "Tech"))] == ["slow"]
    assert [r.comment for r in recent_comments(engine, period, segment=("tag", "vip"))] == ["great"]
    assert [r.comment for r in recent_comments(engine, period, segment=("plan", "pro"))] == ["slow"]
    great = recent_comments(engine, period, group="promoter")[0]
    assert (great.score, great.customer_name, great.agent_name, great.team) == (10, "Zoe", "ana", "Billing")
    assert great.connector == "generic" and great.ticket_url and great.answered_at == NOW - 3 * day


def test_detractors_first_fills_up_to_the_limit(engine: sa.Engine) -> None:
    """Detractors newest first (same time: the later answer first), then the others, up to `limit`;
    the same order as one ORDER BY (detractor?, time, id) over every comment of the period."""
    at = NOW - timedelta(days=1)
    hour = timedelta(hours=1)
    add(engine, 2, at - 2 * hour, comment="d-old")
    add(engine, 5, at, comment="d-new")
    add(engine, 9, at + hour, comment="p-new")
    add(engine, 7, at - hour, comment="n-mid")
    add(engine, 4, at, comment="d-tie")  # same time as d-new, written after it
    add(engine, 3, at + 2 * hour, kind="csat", comment="csat-d")
    add(engine, 5, at + 3 * hour, kind="csat", comment="csat-p")
    period = parse_period("7d", NOW)

    def first(limit: int, kind: str = "nps") -> list[str]:
        rows = recent_comments(engine, period, limit=limit, detractors_first=True, kind=kind)  # type: ignore[arg-type]
        return [r.comment for r in rows]

    assert first(2) == ["d-tie", "d-new"]
    assert first(4) == ["d-tie", "d-new", "d-old", "p-new"]
    assert first(10) == ["d-tie", "d-new", "d-old", "p-new", "n-mid"]
    assert first(1, "csat") == ["csat-d"] and first(5, "csat") == ["csat-d", "csat-p"]
    assert first(3) == [r.comment for r in recent_comments(engine, period, group="detractor", limit=3)]


# -- follow_up_stats -----------------------------------------------------------------------------


def test_follow_up_stats(engine: sa.Engine) -> None:
    day, hour = timedelta(days=1), timedelta(hours=1)
    with engine.begin() as conn:
        subs = [
            conn.execute(
                subscriptions.insert().values(kind="alert", platform="slack", channel_id=ch, created_at=NOW)
            ).inserted_primary_key[0]
            for ch in ("C1", "C2")
        ]
    cases = [  # (score, created, claimed after, resolved after)
        (2, NOW - 5 * day, 1 * hour, None),  # followed
        (4, NOW - 5 * day, None, 47 * hour),  # followed (resolved in time)
        (5, NOW - 5 * day, 49 * hour, 50 * hour),  # too late
        (6, NOW - 5 * day, None, None),  # never
        (9, NOW - 5 * day, hour, None),  # not a detractor
        (1, NOW - 40 * day, hour, None),  # outside the period
    ]
    for score, created, claimed, resolved in cases:
        sid = add(engine, score, created)
        with engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    survey_id=sid,
                    subscription_id=subs[0],
                    channel_id="C1",
                    state="posted",
                    created_at=created,
                    claimed_at=created + claimed if claimed else None,
                    resolved_at=created + resolved if resolved else None,
                )
            )
            if score == 6:  # the same answer alerted in a second channel and claimed there: counts once
                conn.execute(
                    alerts.insert().values(
                        survey_id=sid,
                        subscription_id=subs[1],
                        channel_id="C2",
                        state="posted",
                        created_at=created,
                        claimed_at=created + 2 * hour,
                    )
                )
    stats = follow_up_stats(engine, parse_period("30d", NOW))
    assert (stats.followed, stats.total) == (3, 4)
    assert follow_up_stats(engine, parse_period("2020-01-01..2020-01-31", NOW)).total == 0


# -- additions: single answers, CSAT/CES change, CES ranking, groups per kind, waiting follow-ups ------


def test_single_answer_segment_margin_is_huge_but_bounded(engine: sa.Engine) -> None:
    add(engine, 10, NOW - timedelta(days=1), team="Solo")
    report = score_report(engine, parse_period("7d", NOW), "team", min_n=10)
    (solo,) = report.segments
    est = solo.estimate
    # adjusted Wald: p = 1.75/4, d = 0.75/4, mean 0.25, var = 0.625 - 0.0625 = 0.5625,
    # se = sqrt(0.5625 / 4) = 0.375, margin = 100 * 1.959964 * 0.375 = 73.50; centre 25
    assert est.value == 100.0 and est.margin == pytest.approx(73.4986, abs=1e-3)
    assert (est.low, est.high) == (pytest.approx(25 - 73.4986, abs=1e-3), pytest.approx(25 + 73.4986, abs=1e-3))
    assert est.low >= -100 and est.high <= 100
    table = report_text.segment_table(report)
    assert "too few answers" in table and "+100" not in table, "a single answer never shows as a score"


def test_csat_change_is_a_two_proportion_z_test(engine: sa.Engine) -> None:
    period = parse_period("7d", NOW)
    for i in range(20):  # current: 18 of 20 satisfied = 90 %
        add(engine, 5 if i < 18 else 2, NOW - timedelta(days=1), kind="csat")
    for i in range(20):  # previous: 10 of 20 = 50 %
        add(engine, 4 if i < 10 else 3, NOW - timedelta(days=8), kind="csat")
    change = score_report(engine, period, kind="csat").change
    # pooled p = 28/40 = 0.7; se = sqrt(0.7 * 0.3 * (1/20 + 1/20)) = 0.144914 -> 14.4914 points
    # z = 40 / 14.4914 = 2.7603
    assert change.delta == pytest.approx(40.0)
    assert change.z == pytest.approx(2.7603, abs=1e-3) and change.significant
    # 4/5 vs 3/5: pooled 0.7, se = sqrt(0.21 * 0.4) = 0.28983, z = 0.20 / 0.28983 = 0.690: noise.
    # Fisher's exact test: every split of the 7 satisfied differs by at least 20 points, so p = 1.
    small = proportion_change(4, 5, 3, 5)
    assert small.z == pytest.approx(0.6901, abs=1e-3) and small.p_value == pytest.approx(1.0)
    assert not small.significant
    assert not proportion_change(5, 5, 5, 5).significant and proportion_change(0, 0, 5, 5).delta is None
    text = report_text.headline(score_report(engine, period, kind="csat"))
    assert text.startswith("CSAT last 7 days: 90 %") and "▲ +40 pts vs previous period" in text


def test_ces_change_and_ranking_higher_is_easier(engine: sa.Engine) -> None:
    period = parse_period("7d", NOW)
    for score in (6, 7, 7, 6):  # Easy team now: mean 6.5, SUM x^2 = 170, sample var (170 - 26^2/4)/3 = 1/3
        add(engine, score, NOW - timedelta(days=1), team="Easy", kind="ces")
    for score in (2, 3, 2, 3):  # Easy team before: mean 2.5, var (26 - 10^2/4)/3 = 1/3
        add(engine, score, NOW - timedelta(days=9), team="Easy", kind="ces")
    for score in (3, 4, 3, 4):  # Hard team now: mean 3.5
        add(engine, score, NOW - timedelta(days=1), team="Hard", kind="ces")
    report = score_report(engine, period, "team", kind="ces", min_n=4)
    # 7 = "made it easy" (wording.sentiment: promoter), so the higher mean ranks first
    assert [s.key for s in report.ranked()] == ["Easy", "Hard"]
    easy = report.segments[0]
    # Welch: se = sqrt(1/3/4 + 1/3/4) = 0.408248; z = (6.5 - 2.5) / 0.408248 = 9.798
    assert easy.change.delta == pytest.approx(4.0) and easy.change.z == pytest.approx(9.798, abs=1e-3)
    assert easy.change.significant and report.segments[1].change.delta is None
    assert "▲ +4.0" in report_text.segment_table(report)


def test_groups_per_kind_match_the_follow_up_wording(engine: sa.Engine) -> None:
    for kind in ("nps", "csat", "ces"):
        detractor_max, promoter_min = group_bounds(kind)
        low, high = SCALES[kind]
        for score in range(low, high + 1):
            expected = "detractor" if score <= detractor_max else "promoter" if score >= promoter_min else "passive"
            assert sentiment(kind, score) == expected, (kind, score)
    add(engine, 2, NOW - timedelta(days=1), kind="csat", comment="meh")
    add(engine, 4, NOW - timedelta(days=2), kind="csat", comment="fine")
    period = parse_period("7d", NOW)
    assert [r.comment for r in recent_comments(engine, period, group="detractor", kind="csat")] == ["meh"]
    assert [r.comment for r in recent_comments(engine, period, group="promoter", kind="csat")] == ["fine"]
    assert recent_comments(engine, period) == [], "CSAT comments are not NPS comments"


def test_follow_up_waiting_is_not_a_miss(engine: sa.Engine) -> None:
    hour = timedelta(hours=1)
    with engine.begin() as conn:
        sub = conn.execute(
            subscriptions.insert().values(kind="alert", platform="slack", channel_id="C1", created_at=NOW)
        ).inserted_primary_key[0]
    cases = [  # (alerted before NOW, claimed after alert, resolved after alert)
        (10 * hour, 1 * hour, None),  # followed
        (10 * hour, None, None),  # still inside its 48 h: waiting
        (60 * hour, None, None),  # 48 h passed: missed
        (60 * hour, 48 * hour, None),  # claimed exactly at 48 h: followed (the window is inclusive)
    ]
    for before, claimed, resolved in cases:
        created = NOW - before
        sid = add(engine, 3, created)
        with engine.begin() as conn:
            conn.execute(
                alerts.insert().values(
                    survey_id=sid,
                    subscription_id=sub,
                    channel_id="C1",
                    state="posted",
                    created_at=created,
                    claimed_at=created + claimed if claimed else None,
                    resolved_at=created + resolved if resolved else None,
                )
            )
    stats = follow_up_stats(engine, parse_period("7d", NOW), now=NOW)
    assert (stats.followed, stats.total, stats.waiting, stats.missed) == (2, 4, 1, 1)
    # a week later nothing is waiting any more
    later = follow_up_stats(engine, parse_period("7d", NOW), now=NOW + timedelta(days=7))
    assert (later.followed, later.waiting, later.missed) == (2, 0, 2)


def test_the_follow_up_line_reads_only_the_periods_alerts(tmp_path: Any) -> None:
    """SQLite's plan for the digest's follow-up query searches alerts by created_at (migration 0012);
    without the index it scanned every alert ever raised."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        if "FROM alerts" in statement:
            statements.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", seen)
    follow_up_stats(engine, parse_period("7d", datetime(2026, 11, 28, 12, tzinfo=UTC)))
    sa.event.remove(engine, "before_cursor_execute", seen)
    ((statement, params),) = statements
    with engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params))
    engine.dispose()
    assert "SEARCH alerts USING INDEX ix_alerts_created_at" in plan, plan
