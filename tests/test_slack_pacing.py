"""Slack calls paced to Slack's tiers by every worker together, one shared pause after a 429, a lenient
Retry-After, and Slack user ids found by e-mail looked up once per cache period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.clients import DEFAULT_RETRY_AFTER, Pacer, header_seconds
from integrations.slack.settings import SlackSettings
from nps_bot.delivery.api_limits import ApiLimiter
from nps_bot.models import Customer
from nps_bot.plugin.ports import Pace, RateLimited
from nps_bot.store import create_engine_for
from nps_bot.store.schema import api_limits, customers
from tests.conftest import generic_event
from tests.db_helpers import survey_rows
from tests.fakes.slack import FakeSlack
from tests.support.app import Live
from tests.support.slack import slack_env
from tests.support.worker_processes import (
    Workers,
    all_final,
    posts_by_survey,
    schedule,
    states,
    wait_until,
    worker_env,
)

# ---------------------------------------------------------------------- 429s with three worker processes

SURVEYS = 60
WINDOW = 1.0  # the Retry-After the fake announces
# A request another worker sent before the 429's pause was written is already on its way: Slack sees it
# a few milliseconds after the 429. Later than this, a call inside the window is a bug.
IN_FLIGHT = 0.25


def test_after_a_429_no_worker_in_any_process_calls_that_method_until_retry_after(
    any_db_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    # Half the customers are known by e-mail only (a look-up first), half by their Slack id too.
    customers_ = [
        Customer(email=f"c{n}@example.com", slack_user_id=f"U0CUST{n:04d}" if n % 2 else None) for n in range(SURVEYS)
    ]
    ids = schedule(any_db_url, customers_)
    for n in range(SURVEYS):
        fake_slack.add_user(f"U0CUST{n:04d}", f"c{n}@example.com")
    # Slack allows 20 calls a second of each, 10 at once; the workers are told they may go twice as fast,
    # so they run into 429s and must all back off together. The first call of each is refused too.
    fake_slack.enforce_limits(
        {"users.lookupByEmail": (1200, 10), "chat.postMessage": (1200, 10)}, per_channel=None, retry_after="1"
    )
    for method in ("users.lookupByEmail", "chat.postMessage"):
        fake_slack.fail(method, status=429, retry_after="1")
    rates = json.dumps({"users.lookupByEmail": 2400, "chat.postMessage": 2400})
    workers = Workers(tmp_path)
    env = worker_env(any_db_url, fake_slack, NPS_BOT_SLACK_RATES=rates)
    engine = create_engine_for(any_db_url)
    try:
        for n in range(3):
            workers.start(f"xoxb-worker-{n}", env)
        wait_until(all_final(engine, SURVEYS), 90, "every survey delivered", workers)
        final = states(engine)
    finally:
        workers.stop()
        engine.dispose()

    assert final == {"sent": SURVEYS}, "none lost"
    assert posts_by_survey(fake_slack) == {sid: 1 for sid in ids}, "none twice"
    for method in ("users.lookupByEmail", "chat.postMessage"):
        calls = fake_slack.calls_to(method)
        refused = [c for c in calls if c.status == 429]
        assert refused, f"the test must provoke a 429 on {method}"
        for no in refused:
            inside = [c for c in calls if no.at + IN_FLIGHT < c.at < no.at + WINDOW]
            assert inside == [], f"{len(inside)} {method} calls inside the Retry-After window of a 429"
    assert {c.token for c in fake_slack.calls_to("chat.postMessage")} == {f"xoxb-worker-{n}" for n in range(3)}


# ---------------------------------------------------------------------- the fake keeps Slack's rules


def test_the_fake_enforces_a_tier_and_its_retry_after_window(fake_slack: FakeSlack) -> None:
    limits = fake_slack.enforce_limits({"users.info": (60, 2)}, retry_after="4.0")
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url, retry_handlers=[])
    fake_slack.add_user("U0ALICE01", "alice@example.com")
    for _ in range(2):
        client.users_info(user="U0ALICE01")  # the burst
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.users_info(user="U0ALICE01")
        assert exc.value.response.status_code == 429
    assert header_seconds(exc.value.response.headers) == 4.0
    assert [m for m, _ in limits.refused_inside_window] == ["users.info"], "the second call came too early"
    client.conversations_info(channel="D0ALICE01")  # other methods are not limited


def test_the_fake_returns_metadata_from_history_only_when_asked(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url, retry_handlers=[])
    meta = {"event_type": "nps_survey", "event_payload": {"survey_id": 7}}
    posted = client.chat_postMessage(channel="U0ALICE01", text="survey", metadata=meta)
    client.chat_postMessage(channel="U0ALICE01", text="reply", thread_ts=posted["ts"])  # not in history
    later = client.chat_postMessage(channel="U0ALICE01", text="later")
    full = client.conversations_history(channel="D0ALICE01", include_all_metadata=True)["messages"]
    assert [(m["ts"], m.get("metadata")) for m in full] == [(later["ts"], None), (posted["ts"], meta)]
    plain = client.conversations_history(channel="D0ALICE01", limit=1)
    assert [m["ts"] for m in plain["messages"]] == [later["ts"]] and plain["has_more"]
    assert "metadata" not in client.conversations_history(channel="D0ALICE01")["messages"][1]


# ---------------------------------------------------------------------- the shared limiter itself


def test_a_pause_written_by_one_process_holds_for_another(db_url: str) -> None:
    engine = create_engine_for(db_url)
    one, other = ApiLimiter(engine), ApiLimiter(engine)  # two processes' limiters on one database
    one.pause("slack:users.lookupByEmail", 60)
    with pytest.raises(RateLimited) as exc:
        other.acquire("slack:users.lookupByEmail", Pace(50), max_wait=5)
    assert 55 < exc.value.retry_after <= 60
    other.acquire("slack:chat.postMessage", Pace(50), max_wait=5)  # per method: others are not paused
    with engine.connect() as conn:
        paused = conn.execute(sa.select(api_limits.c.key, api_limits.c.paused_until)).all()
    assert [key for key, until in paused if until is not None] == ["slack:users.lookupByEmail"]
    engine.dispose()


class FakeTime:
    """A clock that moves only when a limiter sleeps, and the sleeps it was asked for."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += timedelta(seconds=seconds)

    def limiter(self, engine: sa.Engine) -> ApiLimiter:
        """One process's limiter on the shared database, on this clock."""
        return ApiLimiter(engine, now=lambda: self.now, sleep=self.sleep)


def test_slots_are_shared_between_processes_after_the_burst(db_url: str) -> None:
    engine = create_engine_for(db_url)
    fake = FakeTime()
    slept = fake.slept
    a, b = fake.limiter(engine), fake.limiter(engine)
    pace = Pace(per_minute=60, burst=2)  # one a second, two back to back
    for limiter in (a, b, a, b, a):
        limiter.acquire("slack:conversations.open", pace, max_wait=5)
    assert slept == [1.0, 1.0, 1.0], "two at once, then one a second, whichever process asks"
    with pytest.raises(RateLimited):  # six calls queued at once would wait longer than allowed
        for _ in range(6):
            b.acquire("slack:conversations.open", Pace(per_minute=6), max_wait=5)
    engine.dispose()


def test_posts_to_a_named_channel_are_paced_across_processes_and_dms_in_each(db_url: str) -> None:
    engine = create_engine_for(db_url)
    fake = FakeTime()
    slept = fake.slept
    settings = SlackSettings(rates={"chat.postMessage": 6000}, channel_posts_per_minute=60)  # one a second
    a, b = Pacer(fake.limiter(engine), settings), Pacer(fake.limiter(engine), settings)
    client = WebClient(token="xoxb-test")
    for pacer in (a, b, a, b, a):  # two workers' processes post alerts to one channel
        pacer.before(client, "chat.postMessage", "C0ALERTS")
    assert slept == [1.0, 1.0], "three at once (the burst), then one a second, whichever process posts"
    slept.clear()
    for pacer in (a, b) * 4:  # DMs: each process paces its own, and keeps no row per customer
        pacer.before(client, "chat.postMessage", "D0CUSTOMER")
    assert slept == [1.0], "each process's fourth post waits for a second, once; together it would be five"
    with engine.connect() as conn:
        keys = set(conn.execute(sa.select(api_limits.c.key)).scalars())
    assert keys == {"slack:chat.postMessage", "slack:chat.postMessage:C0ALERTS"}
    engine.dispose()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("4", 4.0), ("4.0", 4.0), (" 2.5 ", 2.5), ("soon", DEFAULT_RETRY_AFTER), ("-3", DEFAULT_RETRY_AFTER),
     ("nan", DEFAULT_RETRY_AFTER), ("1e12", 3600.0), (["7"], 7.0)],
)  # fmt: skip
def test_retry_after_is_read_leniently(header: object, seconds: float) -> None:
    assert header_seconds({"Retry-After": header}) == seconds


# ---------------------------------------------------------------------- through the live app


@pytest.fixture
def live(make_live, fake_slack: FakeSlack) -> Live:  # type: ignore[no-untyped-def]
    return make_live(env=slack_env(fake_slack), throttle_days=0)


def test_a_decimal_retry_after_is_waited_out_not_a_crash(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after="4.0")  # slack_sdk's own handler: int("4.0")
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    first, second = fake_slack.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 4.0
    assert [r.state for r in survey_rows(live)] == ["sent"]


def test_garbage_retry_after_pauses_for_the_default(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after="soon")
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    first, second = fake_slack.calls_to("chat.postMessage")
    assert second.at - first.at >= DEFAULT_RETRY_AFTER
    assert [r.state for r in survey_rows(live)] == ["sent"]


def test_fifty_surveys_to_ten_customers_make_ten_lookups(live: Live, fake_slack: FakeSlack) -> None:
    for n in range(10):
        fake_slack.add_user(f"U0CUST{n:04d}", f"c{n}@example.com")
    for n in range(50):
        event = generic_event(n + 1, customer={"slack_user_id": None, "email": f"c{n % 10}@example.com"})
        assert live.post_generic(event).status_code in (200, 202)
    live.clock.advance(timedelta(hours=1))
    while live.worker().run_once():
        pass
    assert len(fake_slack.calls_to("users.lookupByEmail")) == 10
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 50 and {p.params["channel"] for p in posts} == {f"U0CUST{n:04d}" for n in range(10)}
    with live.ctx.engine.connect() as conn:
        cached = conn.execute(sa.select(customers.c.email, customers.c.slack_user_id)).all()
    assert sorted(cached) == [(f"c{n}@example.com", f"U0CUST{n:04d}") for n in range(10)]


def test_the_cache_expires_and_remembers_nobody_for_less_long(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0KNOWN01", "known@example.com")
    survey = 0

    def send(email: str) -> str:
        nonlocal survey
        survey += 1
        live.post_generic(generic_event(survey, customer={"slack_user_id": None, "email": email}))
        live.clock.advance(timedelta(hours=1))
        live.worker().run_once()
        return str(survey_rows(live)[-1].state)

    def lookups(email: str) -> int:
        return sum(1 for c in fake_slack.calls_to("users.lookupByEmail") if c.params["email"] == email)

    assert (send("known@example.com"), send("nobody@example.com")) == ("sent", "undeliverable")
    assert (send("known@example.com"), send("nobody@example.com")) == ("sent", "undeliverable")
    assert (lookups("known@example.com"), lookups("nobody@example.com")) == (1, 1), "both answers cached"
    live.clock.advance(timedelta(days=1))  # "not found" is asked again after a day, a found id after 7
    assert (send("known@example.com"), send("nobody@example.com")) == ("sent", "undeliverable")
    assert (lookups("known@example.com"), lookups("nobody@example.com")) == (1, 2)
    live.clock.advance(timedelta(days=7))
    assert send("known@example.com") == "sent" and lookups("known@example.com") == 2
