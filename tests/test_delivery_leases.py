"""The delivery lease holds while a channel waits: a survey is never handed to two workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.delivery import claims
from nps_bot.delivery.worker import Worker
from nps_bot.models import Customer, Delivered, Interaction, OutgoingSurvey
from nps_bot.store import create_engine_for
from nps_bot.store.schema import surveys
from tests.fakes.slack import FakeSlack
from tests.support import worker_processes as processes
from tests.support.worker_processes import Workers, all_final, posts_by_survey, states, wait_until, worker_env

LEASE = timedelta(seconds=0.3)


class SlowChannel:
    """A channel that waits inside the call (like a Retry-After) for several lease lengths."""

    name = "slow"

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.calls: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        with self.lock:
            self.calls.append((survey.id, threading.current_thread().name))
        time.sleep(self.wait)
        return Delivered(channel=self.name, ref=f"ref-{survey.id}")


class Plugin:
    def __init__(self, channel: SlowChannel) -> None:
        self.channel = channel

    def delivery_channels(self) -> list[SlowChannel]:
        return [self.channel]


@pytest.fixture
def ctx(any_db_url: str) -> Iterator[AppContext]:
    settings = Settings(database_url=any_db_url, survey_delay=timedelta(0), embedded_worker=False, worker_lease=LEASE)
    context = AppContext.build(settings, load_integrations=False)
    yield context
    context.engine.dispose()


def schedule(ctx: AppContext, n: int) -> None:
    for i in range(n):
        ctx.surveys.schedule(
            Interaction(connector="generic", event_id=f"e{i}", ticket_id=f"T{i}", customer=Customer(email=f"c{i}@x.io"))
        )


def test_a_slow_delivery_keeps_its_lease_and_is_sent_once(ctx: AppContext) -> None:
    channel = SlowChannel(wait=4 * LEASE.total_seconds())
    ctx.integrations["slow"] = Plugin(channel)
    schedule(ctx, 2)
    first = threading.Thread(target=Worker(ctx, owner="a").deliver_due, name="worker-a")
    first.start()
    time.sleep(0.1)
    # Without a heartbeat both leases would have run out by now (the first survey waits 1.2 s).
    late = []
    while first.is_alive():
        late.append(Worker(ctx, owner="b").deliver_due())
        time.sleep(LEASE.total_seconds())
    first.join()
    assert sum(late) == 0, "the other worker claimed surveys the first still held"
    assert sorted(sid for sid, _ in channel.calls) == [1, 2] and {t for _, t in channel.calls} == {"worker-a"}
    with ctx.engine.connect() as conn:
        states = conn.execute(sa.select(surveys.c.state, surveys.c.delivery_ref).order_by(surveys.c.id)).all()
    assert [(s.state, s.delivery_ref) for s in states] == [("sent", "ref-1"), ("sent", "ref-2")]


def test_a_worker_that_lost_its_lease_does_not_deliver(ctx: AppContext) -> None:
    channel = SlowChannel(wait=0)
    ctx.integrations["slow"] = Plugin(channel)
    schedule(ctx, 1)
    now = ctx.clock.now()
    assert claims.claim_due(ctx.engine, "a", now, LEASE, 10) == [1]
    # a's lease runs out (it stalled) and b takes the survey over
    assert claims.claim_due(ctx.engine, "b", now + 2 * LEASE, LEASE, 10) == [1]
    assert claims.renew(ctx.engine, [1], "a", now + 2 * LEASE, LEASE) == set()
    stale = Worker(ctx, owner="a")
    (survey, key, expires) = claims.load_outgoing(ctx.engine, [1], "Acme", "http://x")[0]
    stale._handle(survey, key, expires, [channel])  # what a's loop would do next
    assert channel.calls == [], "a must not send what b now holds"
    assert claims.renew(ctx.engine, [1], "b", now + 2 * LEASE, LEASE) == {1}


def test_real_workers_waiting_out_a_long_retry_after_keep_their_surveys(
    any_db_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Two worker processes, a 1 s lease, and chat.postMessage answering 429 with Retry-After 3 s
    (three leases) twice: the worker waiting inline keeps renewing its lease, so no other process
    takes its surveys: every customer gets exactly one DM, none is lost."""
    customers_ = [Customer(email=f"c{n}@example.com", slack_user_id=f"U0CUST{n:04d}") for n in range(12)]
    ids = processes.schedule(any_db_url, customers_)
    for n in range(12):
        fake_slack.add_user(f"U0CUST{n:04d}", f"c{n}@example.com")
    fake_slack.fail("chat.postMessage", status=429, retry_after="3", times=2)
    workers = Workers(tmp_path)
    env = worker_env(any_db_url, fake_slack, NPS_BOT_WORKER_BATCH_SIZE="6")
    engine = create_engine_for(any_db_url)
    try:
        for n in range(2):
            workers.start(f"xoxb-worker-{n}", env)
        wait_until(all_final(engine, len(ids)), 60, "every survey delivered", workers)
        final = states(engine)
    finally:
        workers.stop()
        engine.dispose()
    assert final == {"sent": len(ids)}, "none lost"
    assert len([c for c in fake_slack.calls_to("chat.postMessage") if c.status == 429]) == 2
    assert posts_by_survey(fake_slack) == {sid: 1 for sid in ids}, "none twice"
