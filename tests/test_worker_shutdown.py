"""SIGTERM to a worker process: it finishes the survey in hand, hands the rest of its batch back to the
queue (no lease left to expire, no attempt counted) and exits 0 promptly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from nps_bot.store import create_engine_for
from nps_bot.store.schema import surveys

WORKER = r"""
import signal, sys, threading, time
from datetime import timedelta
from nps_bot import logs
from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.delivery.worker import Worker
from nps_bot.models import Customer, Delivered, Interaction

class Slow:
    name = "slow"
    def deliver(self, survey):
        print(f"delivering {survey.id}", flush=True)
        time.sleep(0.4)
        return Delivered(self.name, f"ref-{survey.id}")

class Plugin:
    def delivery_channels(self):
        return [Slow()]

logs.setup("INFO")
settings = Settings(database_url=sys.argv[1], survey_delay=timedelta(0), worker_batch_size=20)
ctx = AppContext.build(settings, load_integrations=False)
ctx.integrations["slow"] = Plugin()
for i in range(10):
    ctx.surveys.schedule(Interaction(connector="generic", event_id=f"e{i}", ticket_id=f"T{i}",
                                     customer=Customer(email=f"c{i}@example.com")))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
Worker(ctx).run_forever(stop)
print("stopped", flush=True)
"""


def test_sigterm_hands_the_batch_back_and_exits_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nps.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("delivering"), line + proc.stderr.read()  # type: ignore[union-attr]
    time.sleep(0.5)  # a second survey is in hand now
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 3, "shutdown waits for one survey at most, not the whole batch"
    assert "stopped" in out and "handed" in err
    engine = create_engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(surveys.c.state, surveys.c.lease_owner, surveys.c.attempts)).all()
    engine.dispose()
    sent = [r for r in rows if r.state == "sent"]
    back = [r for r in rows if r.state == "scheduled"]
    assert 1 <= len(sent) < 10 and len(sent) + len(back) == 10
    assert all(r.lease_owner is None and r.attempts == 0 for r in back), "handed back, no attempt counted"
