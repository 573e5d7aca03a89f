"""Survey delivery under faults, with real `nps-bot worker` processes on PostgreSQL against the fake Slack.

faults: 3 workers deliver 3,000 due surveys (600 customers known by e-mail only, so look-ups too) while
        the fake enforces Slack's tiers (sped up by --scale; the workers pace to 90 % of that), 429s with
        assorted Retry-After values ("2", "1.0", "soon", "3") are injected every 10 seconds, and the worker
        that sent the 1,000th survey DM (a third of them) is SIGKILLed before it hears Slack's answer.
paced:  3 workers deliver 10,000 due surveys with chat.postMessage paced at --rate a minute (the fake
        enforcing --rate / 0.9); prints the rate reached against the pace.

Both print duplicates (customers who got a survey twice), lost (surveys not sent), and the time taken.
Run by hand: `python bench/fault_injection.py [faults|paced|both] [--pg URL]` (default URL:
NPS_BOT_TEST_POSTGRES_URL). Each run uses a new database, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.* when run as a script

from integrations.slack.pacing import TIERS
from nps_bot.models import Customer
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import surveys
from tests.fakes.slack import Call, FakeSlack
from tests.fakes.slack.limits import SLACK_TIERS
from tests.support.worker_processes import Workers, all_final, posts_by_survey, schedule, wait_until, worker_env

WORKERS = 3
HEADROOM = 0.9


@contextmanager
def database(server_url: str) -> Iterator[str]:
    admin = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    name = f"nps_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine_for(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def outcome(url: str, fake: FakeSlack, ids: list[int]) -> tuple[int, int, Counter[str]]:
    """(duplicates, lost, states): a duplicate is a survey Slack accepted more than one DM for; a lost one
    is not recorded as sent or has no DM in Slack."""
    engine = create_engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(surveys.c.id, surveys.c.state)).all()
    engine.dispose()
    posted = posts_by_survey(fake)
    duplicates = sum(1 for sid in ids if posted[sid] > 1)
    lost = sum(1 for r in rows if r.state != "sent" or posted[r.id] == 0)
    return duplicates, lost, Counter(r.state for r in rows)


def run(workers: Workers, url: str, total: int, env: dict[str, str], timeout: float) -> float:
    """Start the workers, wait until every survey is finished, stop them; returns the seconds taken."""
    engine = create_engine_for(url)
    started = time.monotonic()
    try:
        for n in range(WORKERS):
            workers.start(f"xoxb-worker-{n}", env)
        wait_until(all_final(engine, total), timeout, "every survey delivered", workers)
        return time.monotonic() - started
    finally:
        workers.stop()
        engine.dispose()


def faults(server_url: str, n: int, scale: float) -> None:
    fake = FakeSlack().start()
    with database(server_url) as url:
        customers = [Customer(email=f"c{i % 600}@example.com") for i in range(n)]
        for i in range(600):
            fake.add_user(f"U0C{i:07d}", f"c{i}@example.com")
        t0 = time.monotonic()
        ids = schedule(url, customers)
        print(f"scheduled {n} surveys in {time.monotonic() - t0:.1f}s")
        tiers = {method: (per_minute * scale, burst) for method, (per_minute, burst) in SLACK_TIERS.items()}
        fake.enforce_limits(tiers, per_channel=None)
        # Paced a little under the limit the fake enforces: at exactly the limit, network jitter alone
        # brings two calls closer than the interval now and then (real Slack's tiers are "50+ a minute").
        rates = {method: pace.per_minute * scale * HEADROOM for method, pace in TIERS.items()}
        env = worker_env(url, fake, NPS_BOT_SLACK_RATES=json.dumps(rates), NPS_BOT_WORKER_LEASE="5s",
                         NPS_BOT_LOG_LEVEL="WARNING")  # fmt: skip
        workers = Workers(Path(tempfile.mkdtemp(prefix="nps-bench-")))
        killed: list[Call] = []
        posts = Counter[str]()
        stop = threading.Event()

        def inject_429s() -> None:
            values = ["2", "1.0", "soon", "3"]
            k = 0
            while not stop.wait(10.0):
                fake.fail(("chat.postMessage", "users.lookupByEmail")[k % 2], status=429, retry_after=values[k % 4])
                k += 1

        def kill_a_third_in(call: Call) -> None:
            if call.method == "chat.postMessage" and call.ok:
                posts["ok"] += 1
                if posts["ok"] == n // 3:
                    killed.append(call)
                    pid = workers.kill_sender(call)
                    print(f"SIGKILLed worker pid {pid} ({call.token}) as Slack received survey DM {n // 3}")

        fake.on_call = kill_a_third_in
        threading.Thread(target=inject_429s, daemon=True).start()
        try:
            took = run(workers, url, n, env, timeout=1800)
        finally:
            stop.set()
        duplicates, lost, states = outcome(url, fake, ids)
        calls = fake.calls
        refused = Counter(c.method for c in calls if c.status == 429)
        adopted_id = int(killed[0].params["metadata"]["event_payload"]["survey_id"]) if killed else None
        print(f"faults: {n} surveys, {WORKERS} workers, tiers x{scale:g}")
        print(f"  duplicates: {duplicates}   lost: {lost}   states: {dict(states)}   time: {took:.1f}s")
        print(f"  429s answered: {dict(refused)}")
        print(f"  calls inside an announced Retry-After window: {len(fake.limits.refused_inside_window)}")
        print(f"  look-ups: {sum(1 for c in calls if c.method == 'users.lookupByEmail' and c.ok)} for 600 customers")
        history = sum(1 for c in calls if c.method == "conversations.history")
        engine = create_engine_for(url)
        with engine.connect() as conn:
            again = conn.execute(sa.select(sa.func.count()).where(surveys.c.attempts > 1)).scalar()
        engine.dispose()
        print(f"  surveys claimed more than once (looked for in Slack before posting): {again}")
        times = posts_by_survey(fake)[adopted_id] if adopted_id else 0
        print(f"  the killed worker's DM (survey {adopted_id}) posted {times} time(s); history calls: {history}")
    fake.stop()


def paced(server_url: str, n: int, rate: float) -> None:
    fake = FakeSlack().start()
    with database(server_url) as url:
        t0 = time.monotonic()
        ids = schedule(url, [Customer(email=f"p{i}@example.com", slack_user_id=f"U0P{i:07d}") for i in range(n)])
        print(f"scheduled {n} surveys in {time.monotonic() - t0:.1f}s")
        burst = TIERS["chat.postMessage"].burst
        fake.enforce_limits({"chat.postMessage": (rate / HEADROOM, burst)}, per_channel=None)
        env = worker_env(url, fake, NPS_BOT_SLACK_RATES=json.dumps({"chat.postMessage": rate}),
                         NPS_BOT_WORKER_LEASE="10s", NPS_BOT_LOG_LEVEL="WARNING")  # fmt: skip
        workers = Workers(Path(tempfile.mkdtemp(prefix="nps-bench-")))
        took = run(workers, url, n, env, timeout=4 * 60 * n / rate + 120)
        duplicates, lost, states = outcome(url, fake, ids)
        ok = [c.at for c in fake.calls_to("chat.postMessage") if c.ok]
        # After the first burst, one slot per interval: (posts - burst) intervals between first and last.
        reached = (len(ok) - burst) / (ok[-1] - ok[0]) * 60 if len(ok) > burst else 0.0
        refused = sum(1 for c in fake.calls_to("chat.postMessage") if c.status == 429)
        print(f"paced: {n} surveys, {WORKERS} workers, chat.postMessage paced at {rate:g}/min (burst {burst})")
        print(f"  duplicates: {duplicates}   lost: {lost}   states: {dict(states)}   time: {took:.1f}s")
        print(f"  rate reached: {reached:.1f}/min ({(reached / rate - 1) * 100:+.2f} % of the pace); 429s: {refused}")
    fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", choices=("faults", "paced", "both"), default="both")
    parser.add_argument("--pg", default=os.environ.get("NPS_BOT_TEST_POSTGRES_URL"), help="PostgreSQL server URL")
    parser.add_argument("--surveys", type=int, help="surveys (default 3000 for faults, 10000 for paced)")
    parser.add_argument("--scale", type=float, default=20, help="faults: Slack's tiers sped up this many times")
    parser.add_argument("--rate", type=float, default=3000, help="paced: chat.postMessage calls a minute")
    args = parser.parse_args()
    if not args.pg:
        parser.error("a PostgreSQL server is needed: --pg or NPS_BOT_TEST_POSTGRES_URL")
    if args.scenario in ("faults", "both"):
        faults(args.pg, args.surveys or 3000, args.scale)
    if args.scenario in ("paced", "both"):
        paced(args.pg, args.surveys or 10000, args.rate)


if __name__ == "__main__":
    main()
