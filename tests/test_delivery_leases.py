"""The delivery lease holds while a channel waits: a survey is never handed to two workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.delivery import claims
from nps_bot.delivery.worker import Worker
from nps_bot.models import Customer, Delivered, Interaction, OutgoingSurvey
from nps_bot.store.schema import surveys

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
