"""Webhook ingest over real HTTP against real uvicorn processes, and the processes' peak memory.

Baseline: bench/bare_app.py (a bare Starlette POST endpoint under the same uvicorn settings), measured
in the same run, interleaved round by round with `nps-bot serve`; each figure is the median of the
rounds. The load generator (bench/loadgen.py) holds N keep-alive connections, each sending its next
request as soon as the answer to the last one arrives (closed loop), in this process.

Signed generic webhooks (the README's body shape, with tags and attributes), new events and
redeliveries of events already stored, at 1 and 8 connections. A webhook is answered once stored in
the intake queue; then `nps-bot worker` schedules everything queued (timed: how fast it empties the
queue) and delivers it (console channel), and the peak RSS (VmHWM) of both processes is read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import loadgen
from nps_bot.plugin import signing
from nps_bot.store import create_engine_for
from nps_bot.store.schema import surveys, webhook_intake

SECRET = "bench-secret"
ROOT = Path(__file__).resolve().parent.parent
INGEST_GOAL_RATIO = 0.5
P99_GOAL_MS = 50.0
RSS_GOAL_MB = 200.0
_events = itertools.count()


def body(n: int) -> bytes:
    return json.dumps({
        "event": "ticket.closed", "id": f"evt_{n}",
        "ticket": {"id": f"T-{n}", "subject": "Invoice shows the wrong VAT", "channel": "chat", "team": "Billing",
                   "tags": ["billing", "vat"], "url": f"https://help.example.com/tickets/{n}"},
        "customer": {"email": f"c{n}@example.com", "name": "Rūta", "language": "lt",
                     "attributes": {"plan": "pro", "region": "EU"}},
        "agent": {"id": "42", "name": "Ona"},
    }).encode()  # fmt: skip


def signed(raw: bytes) -> tuple[bytes, dict[str, str]]:
    return raw, {signing.HEADER: signing.sign(SECRET, raw, int(time.time())), "content-type": "application/json"}


@dataclass
class Load:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu_seconds: float = 0.0  # the server process's user + system CPU during the load

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: steadier than throughput on a shared machine."""
        return self.cpu_seconds * 1000 / self.requests if self.requests else 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98] * 1000 if len(self.latencies) > 1 else 0.0


def drive(url: str, posts: list[tuple[bytes, dict[str, str]]], connections: int) -> Load:
    """POST every signed body to /webhooks/generic over `connections` keep-alive connections (bench/loadgen.py)."""
    host, port = url.removeprefix("http://").split(":")
    requests = [loadgen.post_request(host, "/webhooks/generic", raw, headers) for raw, headers in posts]
    latencies, statuses, elapsed = loadgen.run(host, int(port), requests, connections)
    return Load(len(latencies), elapsed, latencies, sum(status != 202 for status in statuses))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/livez", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.args} did not come up")


def nps_env(db_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPS_BOT_")}
    env.update({
        "NPS_BOT_DATABASE_URL": db_url, "NPS_BOT_HOST": "127.0.0.1", "NPS_BOT_PORT": str(port),
        "NPS_BOT_GENERIC_SECRET": SECRET, "NPS_BOT_EMBEDDED_WORKER": "false", "NPS_BOT_SURVEY_DELAY": "0s",
        "NPS_BOT_THROTTLE_DAYS": "0", "NPS_BOT_LOG_LEVEL": "WARNING",
    })  # fmt: skip
    return env


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if url:
            wait_up(url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


NPS_BOT = [sys.executable, "-m", "nps_bot.cli"]


def run(db_url: str, label: str, *, rounds: int, requests: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Rows for the results table, and the peak RSS (MB) of `serve` and `worker` on this database."""
    subprocess.run([*NPS_BOT, "migrate"], cwd=ROOT, env=nps_env(db_url, 0), check=True, capture_output=True)
    bare_port, ours_port = free_port(), free_port()
    bare_url, ours_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{ours_port}"
    samples: dict[tuple[str, int, str], list[Load]] = {}
    with (
        process([sys.executable, "-m", "bench.bare_app", str(bare_port)], url=bare_url) as bare,
        process([*NPS_BOT, "serve"], env=nps_env(db_url, ours_port), url=ours_url) as serve,
    ):
        for _ in range(rounds):
            for connections in (1, 8):
                new = [body(next(_events)) for _ in range(requests)]
                for kind, raws in (("new", new), ("duplicate", new)):
                    for side, url, pid in (("bare", bare_url, bare.pid), ("ours", ours_url, serve.pid)):
                        posts = [signed(r) for r in raws]  # signed just before: the replay window
                        before = cpu_seconds(pid)
                        load = drive(url, posts, connections)
                        load.cpu_seconds = cpu_seconds(pid) - before
                        if side == "ours" and load.errors:
                            err = serve.stderr.read1(4000).decode(errors="replace") if serve.stderr else ""
                            raise RuntimeError(f"{load.errors} webhooks not accepted ({label}): {err}")
                        samples.setdefault((kind, connections, side), []).append(load)
        serve_rss = peak_rss_mb(serve.pid)
    worker_rss, drain = _run_worker(db_url)
    rss = {"serve": serve_rss, "worker": worker_rss}
    rows = []
    for (kind, connections, side), loads in samples.items():
        if side != "bare":
            continue
        ours = samples[(kind, connections, "ours")]
        base_rate = statistics.median(x.rate for x in loads)
        our_rate = statistics.median(x.rate for x in ours)
        our_p99 = statistics.median(x.p99_ms for x in ours)
        ratio = our_rate / base_rate
        rows.append({
            "what": f"ingest {label}, {kind} webhooks, {connections} conn (req/s)",
            "baseline": base_rate, "ours": our_rate, "ratio": ratio,
            "extra": (
                f"p99 {our_p99:.1f} ms (bare {statistics.median(x.p99_ms for x in loads):.1f}); "
                f"server CPU {statistics.median(x.cpu_ms for x in ours):.2f} ms/request "
                f"(bare {statistics.median(x.cpu_ms for x in loads):.2f})"
            ),
            "goal": f">= {INGEST_GOAL_RATIO}x, p99 < {P99_GOAL_MS:.0f} ms",
            "met": ratio >= INGEST_GOAL_RATIO and our_p99 < P99_GOAL_MS,
        })  # fmt: skip
    events = rounds * 2 * requests  # each round posts `requests` new events per connection count, then again
    rows.append({
        "what": f"queued webhooks scheduled by one `nps-bot worker` ({label}, webhooks/s)", "baseline": None,
        "ours": drain["queued"] / drain["seconds"], "ratio": None,
        "extra": (
            f"{drain['queued']:.0f} queued (new and redelivered) emptied in {drain['seconds']:.1f} s while it "
            f"also delivered; {drain['surveys']:.0f} surveys for {events} events"
        ),
        "goal": "one survey per event", "met": drain["surveys"] == events,
    })  # fmt: skip
    for name, mb in rss.items():
        rows.append({
            "what": f"peak RSS `{name}` ({label}, after the ingest rounds)", "baseline": None, "ours": mb,
            "ratio": None, "extra": "MB", "goal": f"< {RSS_GOAL_MB:.0f} MB", "met": mb < RSS_GOAL_MB,
        })  # fmt: skip
    return rows, rss


def _run_worker(db_url: str, limit_seconds: float = 120) -> tuple[float, dict[str, float]]:
    """Run `nps-bot worker` until it has scheduled every queued webhook and delivered every due survey
    (console channel): its peak RSS, and how fast it emptied the intake queue."""
    engine = create_engine_for(db_url)

    def counts() -> tuple[int, int, int]:
        with engine.connect() as conn:
            queued = conn.execute(sa.select(sa.func.count()).select_from(webhook_intake)).scalar_one()
            due = conn.execute(
                sa.select(sa.func.count()).select_from(surveys).where(surveys.c.state == "scheduled")
            ).scalar_one()
            total = conn.execute(sa.select(sa.func.count()).select_from(surveys)).scalar_one()
        return int(queued), int(due), int(total)

    try:
        queued_at_start = counts()[0]
        with process([*NPS_BOT, "worker"], env=nps_env(db_url, 0)) as worker:
            started = time.monotonic()
            drained_after = None
            while time.monotonic() < started + limit_seconds and worker.poll() is None:
                time.sleep(0.2)
                queued, due, _ = counts()
                if queued == 0 and drained_after is None:
                    drained_after = time.monotonic() - started
                if queued == 0 and due == 0:
                    break
            if drained_after is None:
                raise RuntimeError(f"the worker left {counts()[0]} webhooks queued after {limit_seconds} s")
            stats = {"queued": queued_at_start, "seconds": drained_after, "surveys": counts()[2]}
            return peak_rss_mb(worker.pid), stats
    finally:
        engine.dispose()
