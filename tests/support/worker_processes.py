"""Real `nps-bot worker` processes against the fake Slack: each gets its own bot token, so a call the fake
received names the process that sent it (e.g. to SIGKILL exactly that one). Used by the Slack pacing and
crash tests and by bench/fault_injection.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.models import Customer, Interaction
from nps_bot.store.schema import surveys
from tests.fakes.slack import Call, FakeSlack

FINAL = ("sent", "undeliverable", "failed", "suppressed", "expired")


def worker_env(database_url: str, fake: FakeSlack, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NPS_BOT_", "SLACK_"))}
    env.update(
        {
            "NPS_BOT_DATABASE_URL": database_url,
            "NPS_BOT_SURVEY_DELAY": "0",
            "NPS_BOT_THROTTLE_DAYS": "0",
            "NPS_BOT_WORKER_LEASE": "1s",
            "NPS_BOT_WORKER_POLL_INTERVAL": "0.1s",
            "NPS_BOT_SLACK_API_URL": fake.base_url,
            "NPS_BOT_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


@dataclass
class Workers:
    """Worker processes by the bot token each one uses."""

    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, token: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{token}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "nps_bot.cli", "worker"],
            env={**env, "SLACK_BOT_TOKEN": token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[token] = proc
        return proc

    def kill_sender(self, call: Call) -> int:
        """SIGKILL the process that made `call`, before it reads Slack's answer; returns its pid."""
        proc = self.procs[str(call.token)]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return proc.pid

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.log_dir.glob("*.log"))


def schedule(database_url: str, customers: Iterable[Customer], **settings: Any) -> list[int]:
    """One due survey per customer (a ticket each), written as the webhook would."""
    ctx = AppContext.build(
        Settings(database_url=database_url, survey_delay=timedelta(0), throttle_days=0, **settings),
        load_integrations=False,
    )
    ids = []
    for n, customer in enumerate(customers):
        interaction = Interaction(connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", customer=customer)
        outcome = ctx.surveys.schedule(interaction)
        assert outcome.survey_id is not None, outcome
        ids.append(outcome.survey_id)
    ctx.engine.dispose()
    return ids


def states(engine: sa.Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(sa.select(surveys.c.state, sa.func.count()).group_by(surveys.c.state)).all()))


def wait_until(check: Callable[[], bool], timeout: float, what: str, workers: Workers | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{workers.logs() if workers else ''}")
        time.sleep(0.1)


def all_final(engine: sa.Engine, total: int) -> Callable[[], bool]:
    return lambda: sum(n for state, n in states(engine).items() if state in FINAL) >= total


def posts_by_survey(fake: FakeSlack) -> Counter[int]:
    """Survey DMs Slack accepted, by the survey id in their metadata."""
    counted: Counter[int] = Counter()
    for call in fake.calls_to("chat.postMessage"):
        metadata = call.params.get("metadata")
        if call.ok and isinstance(metadata, dict):
            counted[int(metadata["event_payload"]["survey_id"])] += 1
    return counted
