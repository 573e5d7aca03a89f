"""The benchmark suite: `python -m bench [--postgres URL] [--rounds N] [--requests N] [--answers N]`.

Every figure is set against a baseline measured in the same run on the same machine (interleaved
rounds, medians): ingest against a bare Starlette endpoint (bench/ingest.py), reports against the raw
GROUP BY (bench/bench_rollups.py), and the peak RSS of `serve` and `worker` against the 200 MB goal.
Prints the table and writes it, with the machine and the command, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import ingest

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine(pg_url: str | None) -> list[str]:
    mem_kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), platform.processor())  # fmt: skip
    lines = [
        f"- CPU: {os.cpu_count()} cores ({cpu}); RAM {mem_kb / 1024 / 1024:.1f} GiB; {platform.platform()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}",
    ]
    if pg_url:
        with contextlib.closing(_Admin(pg_url)) as admin, admin.connect() as conn:
            lines.append(f"- PostgreSQL: {conn.execute(sa.text('SHOW server_version')).scalar()}")
    return lines


class _Admin:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(_driver(url), isolation_level="AUTOCOMMIT")

    def connect(self) -> Any:
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def _driver(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@contextlib.contextmanager
def pg_database(url: str) -> Iterator[str]:
    """A new, empty database on the server `url` names; dropped afterwards."""
    name = f"nps_bench_{uuid.uuid4().hex[:10]}"
    with contextlib.closing(_Admin(url)) as admin:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{url.rsplit('/', 1)[0]}/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def rollup_rows(db_url: str, answers: int) -> list[dict[str, Any]]:
    try:
        rollups = importlib.import_module("bench.bench_rollups")
    except ImportError as exc:
        print(f"reports: bench/bench_rollups.py not available ({exc})", file=sys.stderr)
        return []
    rows: list[dict[str, Any]] = rollups.run(db_url, answers)
    return rows


def fmt(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| what | baseline | ours | ratio | goal | met |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        extra = f" ({r['extra']})" if r.get("extra") else ""
        met = r.get("met")
        out.append(
            f"| {r['what']} | {fmt(r.get('baseline'))} | {fmt(r.get('ours'))}{extra} | "
            f"{fmt(r.get('ratio'), 2)} | {r.get('goal', '')} | {'' if met is None else 'yes' if met else 'NO'} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server (a new database)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per figure (default 3)")
    parser.add_argument("--requests", type=int, default=1000, help="webhooks per measurement (default 1000)")
    parser.add_argument("--answers", type=int, default=100_000, help="answers for the report benchmark")
    parser.add_argument("--only", choices=["ingest", "reports"], help="run one benchmark")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, contextlib.AbstractContextManager[str]]] = [
            ("SQLite", contextlib.nullcontext(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        ]
        if args.postgres:
            targets.append(("PostgreSQL", pg_database(args.postgres)))
        for label, target in targets:
            with target as db_url:
                if args.only != "reports":
                    rows += ingest.run(db_url, label, rounds=args.rounds, requests=args.requests)[0]
        report_targets = [f"sqlite:///{Path(tmp) / 'reports.db'}"]
        for db in ([] if args.only == "ingest" else report_targets):
            rows += rollup_rows(db, args.answers)  # each row names its database and size; times in ms
        if args.postgres and args.only != "ingest":
            with pg_database(args.postgres) as db_url:
                rows += rollup_rows(db_url, args.answers)
    lines = table(rows)
    print("\n".join(lines))
    if args.no_write:
        return
    command = "python -m bench " + shlex.join(sys.argv[1:])
    text = [
        "# Benchmark results",
        "",
        f"{started:%Y-%m-%d %H:%M} UTC, `{command}` (written by that command).",
        "",
        *machine(args.postgres),
        "- The machine was shared: other engineers ran tests on its cores during this run, so absolute",
        "  figures are noisy; each ratio is against a baseline measured in the same run, interleaved.",
        f"  Load average (1 min): {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        *lines,
        "",
        "How to read it: ingest is signed generic webhooks per second over real HTTP to `nps-bot serve`",
        "(a uvicorn process, NPS_BOT_LOG_LEVEL=WARNING, no embedded worker) against bench/bare_app.py (bare",
        "Starlette POST under the same uvicorn settings), driven closed-loop by bench/loadgen.py (raw asyncio",
        "HTTP/1.1, requests built beforehand, so the client is not the limit) with 1 or 8 keep-alive",
        "connections in a third process; medians of the rounds; p99 is ours. Server CPU is the server",
        "process's user + system time per request (/proc/<pid>/stat), steadier than req/s on a shared",
        "machine. 'duplicate' re-posts events already stored. A webhook is answered once stored in the",
        "intake queue; `nps-bot worker` then schedules the queue (its rate is the 'scheduled by one worker'",
        "row, timed until the queue is empty) and delivers. Peak RSS is VmHWM from /proc after the ingest",
        "rounds; the worker's is read after it delivered every scheduled survey through the console channel.",
        "Reports: bench/bench_rollups.py.",
        "",
    ]
    # Sections ("## ...") below the generated part hold runs made with their own commands (the 1M
    # reports): kept as they are.
    kept = ""
    if RESULTS.exists():
        old = RESULTS.read_text()
        if (start := old.find("\n## ")) != -1:
            kept = old[start:]
    RESULTS.write_text("\n".join(text) + kept)
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
