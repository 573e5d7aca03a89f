"""Reports from rollups against the raw GROUP BY, on the same database.

Run by hand: `python bench/bench_rollups.py [answers] [--db URL]` (default: a temporary SQLite file;
a PostgreSQL URL must name an empty database). The bench suite calls `run(db_url, answers)`.

Seeds `answers` answered surveys (plus a quarter as many sent, unanswered) over a year: 80 % NPS,
10 % CSAT, 10 % CES, 12 teams, 60 agents, a comment on 30 % of answers, a tag on a third, a plan
attribute on all; written with the driver's fastest path (executemany on SQLite, COPY on PostgreSQL),
then the rollups are rebuilt (`nps-bot rollups rebuild`, timed). Then, as medians of several runs:
- `/nps score 90d by team`: score_report (with the previous period and response rates) against the
  raw GROUP BY of the answers alone for the same 90 days (goal: ours <= 0.2 x raw);
- the 12-week trend and the digest build, against the same code reading raw rows (goal: < 100 ms).
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from nps_bot.followups import digests
from nps_bot.reporting import queries
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.rollups import rebuild
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import responses, surveys

NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)
TEAMS = [f"Team {i}" for i in range(12)]
SPAN_MINUTES = 365 * 24 * 60
SURVEY_COLUMNS = [
    "id",
    "token",
    "kind",
    "connector",
    "ticket_id",
    "team",
    "agent_name",
    "channel",
    "language",
    "state",
    "due_at",
    "created_at",
    "updated_at",
    "sent_at",
    "attempts",
]
RESPONSE_COLUMNS = ["survey_id", "kind", "score", "comment", "source", "created_at", "updated_at"]
COMMENTED = 0.3  # share of answers with a comment (the digest shows the newest few)


def _comments(answers: int) -> Iterator[str | None]:
    """Per answer, its comment or None; a stream of its own, so the other columns stay as they were."""
    rnd = random.Random(2)
    for i in range(1, answers + 1):
        yield f"bench comment {i}" if rnd.random() < COMMENTED else None


def _rows(answers: int) -> Iterator[tuple[list[Any], list[Any] | None, str | None, str]]:
    """(survey, response or None, tag or None, plan) per survey, deterministic."""
    rnd = random.Random(1)
    comments = _comments(answers)
    for i in range(1, answers + answers // 4 + 1):
        answered = i <= answers
        at = NOW - timedelta(minutes=rnd.randrange(SPAN_MINUTES))
        kind = rnd.choices(("nps", "csat", "ces"), (8, 1, 1))[0]
        survey = [
            i, f"b{i}", kind, rnd.choice(("zendesk", "freshdesk")), str(i), rnd.choice(TEAMS),
            f"agent{rnd.randrange(60)}", rnd.choice(("email", "chat")), "en", "answered" if answered else "sent",
            at, at, at, at, 1,
        ]  # fmt: skip
        low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[kind]
        response = [i, kind, rnd.randint(low, high), next(comments), "bench", at, at] if answered else None
        tag = rnd.choice(("billing", "bug", "refund")) if rnd.random() < 0.33 else None
        yield survey, response, tag, rnd.choice(("free", "pro", "enterprise"))


def _sqlite_time(value: Any) -> Any:
    return value.replace(tzinfo=None).isoformat(" ", "microseconds") if isinstance(value, datetime) else value


def seed(engine: sa.Engine, answers: int) -> None:
    """Raw rows at driver speed (the service's own paths would take hours for a million)."""
    tables = {
        "surveys": ",".join(SURVEY_COLUMNS),
        "responses": ",".join(RESPONSE_COLUMNS),
        "survey_tags": "survey_id,tag",
        "survey_attributes": "survey_id,name,value",
    }
    batches: dict[str, list[list[Any]]] = {t: [] for t in tables}
    for survey, response, tag, plan in _rows(answers):
        batches["surveys"].append(survey)
        if response:
            batches["responses"].append(response)
        if tag:
            batches["survey_tags"].append([survey[0], tag])
        batches["survey_attributes"].append([survey[0], "plan", plan])
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, columns in tables.items():
            rows = batches[table]
            if engine.dialect.name == "sqlite":
                marks = ",".join("?" * len(columns.split(",")))
                cur.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", ([_sqlite_time(v) for v in r] for r in rows)
                )
            else:
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for r in rows:
                        copy.write_row(r)
        if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
            cur.execute(f"SELECT setval('surveys_id_seq', {len(batches['surveys'])})")
            cur.execute(f"SELECT setval('responses_id_seq', {len(batches['responses'])})")
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:  # what `PRAGMA optimize` / autovacuum do on a live database
        conn.execute(sa.text("ANALYZE"))


def raw_group_by(engine: sa.Engine, since: datetime, until: datetime) -> dict[str, tuple[int, int, int]]:
    """The raw GROUP BY behind `/nps score 90d by team`: NPS groups per team, one scan of the answers."""
    score = responses.c.score
    query = (
        sa.select(
            surveys.c.team,
            sa.func.sum(sa.case((score >= 9, 1), else_=0)),
            sa.func.sum(sa.case((score.between(7, 8), 1), else_=0)),
            sa.func.sum(sa.case((score <= 6, 1), else_=0)),
        )
        .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id))
        .where(responses.c.kind == "nps", responses.c.created_at >= since, responses.c.created_at < until)
        .group_by(surveys.c.team)
    )
    with engine.connect() as conn:
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(query)}


def timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()  # warm: caches and compiled statements, as in a running service
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@contextmanager
def _raw_digest() -> Iterator[None]:
    """The digest's report and trend read raw rows instead of rollups (the same code otherwise)."""
    saved = digests.score_report, digests.weekly_trend
    digests.score_report = partial(queries.score_report, rollups=False)  # type: ignore[assignment]
    digests.weekly_trend = partial(queries.weekly_trend, rollups=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        digests.score_report, digests.weekly_trend = saved


def _row(what: str, baseline: float | None, ours: float, goal: str) -> dict[str, Any]:
    return {
        "what": what,
        "baseline": None if baseline is None else round(baseline * 1000, 1),
        "ours": round(ours * 1000, 1),
        "ratio": None if not baseline else round(ours / baseline, 3),
        "goal": goal,
    }


def run(db_url: str, answers: int) -> list[dict[str, Any]]:
    """Seed `answers` into the (empty) database at `db_url` and time reports; milliseconds per row."""
    engine = create_engine_for(db_url)
    try:
        migrate(engine)
        seed(engine, answers)
        started = time.perf_counter()
        with engine.begin() as conn:
            rebuild(conn)
        rebuilt = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        period = parse_period("90d", NOW)
        report = partial(queries.score_report, engine, period, "team")
        assert report() == report(rollups=False), "rollups and raw rows disagree"
        ctx = SimpleNamespace(engine=engine, settings=SimpleNamespace(min_segment_n=10))
        build = partial(digests.build_digest, ctx, None, NOW)
        ours = timed(report)
        rows = [
            _row(
                f"/nps score 90d by team ({answers:,} answers, {engine.dialect.name})",
                timed(lambda: raw_group_by(engine, period.start, period.end), 3),
                ours,
                "<= 0.2x raw GROUP BY",
            ),
            _row(
                "  the same report from raw rows (previous period, rates)",
                timed(lambda: report(rollups=False), 3),
                ours,
                "-",
            ),
            _row(
                "trend 12 weeks",
                timed(lambda: queries.weekly_trend(engine, 12, NOW, rollups=False), 3),
                timed(lambda: queries.weekly_trend(engine, 12, NOW)),
                "< 100 ms",
            ),
        ]
        with _raw_digest():
            raw_digest = timed(build, 3)
            from_raw = build()
        assert build() == from_raw, "the digest from rollups and from raw rows disagree"
        rows.append(_row("digest build (7d by team, 3 kinds, trend, comments)", raw_digest, timed(build), "< 100 ms"))
        rows.append(_row("rollups rebuild (all rows, one transaction)", None, rebuilt, "once; migration 0009"))
        return rows
    finally:
        engine.dispose()


def print_table(rows: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    out.write(f"{'what':<66} {'baseline ms':>12} {'ours ms':>10} {'ratio':>7}  goal\n")
    for r in rows:
        base = "" if r["baseline"] is None else f"{r['baseline']:.1f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3f}"
        out.write(f"{r['what']:<66} {base:>12} {r['ours']:>10.1f} {ratio:>7}  {r['goal']}\n")
    print(out.getvalue(), end="")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("answers", type=int, nargs="?", default=100_000)
    parser.add_argument("--db", help="an empty database's URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print_table(run(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}", args.answers))


if __name__ == "__main__":
    main()
