"""Report speed: SQL GROUP BY (what /nps score runs) against loading the rows into Python.

Run by hand: `python bench/bench_reports.py [answers] [--db URL]`. Prints timings and the ratio
against the in-Python baseline measured in the same run on the same data.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.reporting.scoring import NpsCounts, nps_estimate
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import responses, surveys

NOW = datetime(2026, 11, 20, tzinfo=UTC)
TEAMS = [f"Team {i}" for i in range(12)]


def seed(engine: sa.Engine, answers: int) -> None:
    rnd = random.Random(1)
    survey_rows, response_rows = [], []
    for i in range(1, answers + 1):
        at = NOW - timedelta(minutes=rnd.randrange(60 * 24 * 90))
        survey_rows.append({
            "id": i, "token": secrets.token_urlsafe(12), "kind": "nps", "connector": "bench", "ticket_id": str(i),
            "team": rnd.choice(TEAMS), "agent_name": f"agent{rnd.randrange(60)}", "language": "en", "state": "answered",
            "due_at": at, "created_at": at, "updated_at": at, "sent_at": at, "attempts": 1,
        })  # fmt: skip
        response_rows.append({
            "survey_id": i, "kind": "nps", "score": rnd.choice([0, 3, 5, 6, 7, 8, 8, 9, 9, 10, 10, 10]),
            "source": "bench", "created_at": at, "updated_at": at,
        })  # fmt: skip
    with engine.begin() as conn:
        conn.execute(surveys.insert(), survey_rows)
        conn.execute(responses.insert(), response_rows)


def python_baseline(engine: sa.Engine, since: datetime) -> dict[str, NpsCounts]:
    """What a naive implementation does: fetch every answer, classify in a loop."""
    query = (
        sa.select(surveys.c.team, responses.c.score)
        .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id))
        .where(responses.c.created_at >= since)
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as conn:
        for team, score in conn.execute(query):
            counts[team][0 if score >= 9 else 1 if score >= 7 else 2] += 1
    result = {team: NpsCounts(*c) for team, c in counts.items()}
    for c in result.values():
        nps_estimate(c)
    return result


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("answers", type=int, nargs="?", default=100_000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine_for(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        t0 = time.perf_counter()
        seed(engine, args.answers)
        with engine.begin() as conn:  # what `PRAGMA optimize` / autovacuum do on a live database
            conn.execute(sa.text("ANALYZE"))
        print(f"seeded {args.answers} answers in {time.perf_counter() - t0:.1f}s ({engine.dialect.name})")
        period = parse_period("30d", NOW)
        # Same work on both sides: one period, NPS with margin of error per team.
        sql = timed(lambda: score_report(engine, period, "team", compare=False))
        base = timed(lambda: python_baseline(engine, period.start))
        full = timed(lambda: score_report(engine, period, "team"))
        report = score_report(engine, period, "team", compare=False)
        assert sum(s.counts.n for s in report.segments) == sum(
            c.n for c in python_baseline(engine, period.start).values()
        )
        print(f"score_report 30d by team (SQL GROUP BY): {sql * 1000:8.1f} ms")
        print(f"baseline: rows into Python            : {base * 1000:8.1f} ms")
        print(f"ratio baseline / SQL                  : {base / sql:8.2f}x")
        print(f"full report (+ previous period, response rates): {full * 1000:.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
