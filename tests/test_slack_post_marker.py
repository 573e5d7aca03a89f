"""A survey is looked for in Slack (conversations.open + conversations.history, Tier 3 both) only when its
last attempt may have posted it: `surveys.post_attempted_at`, stamped before chat.postMessage and cleared
when Slack answers that nothing was posted. Through the real app and worker, against the fake Slack Web
API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient

from integrations.slack.delivery import survey_metadata
from nps_bot.delivery import claims
from nps_bot.store import create_engine_for, migrate
from nps_bot.store.schema import surveys
from tests.db_helpers import only_survey
from tests.fakes.slack import Call, FakeSlack
from tests.support.app import Live, generic_event
from tests.support.slack import slack_env

RETRY_AFTER = 1.0  # longer than the inline wait below: the 429 reaches the worker, which reschedules
LOOKS = ("conversations.open", "conversations.history")


@pytest.fixture
def live(make_live: Callable[..., Live], fake_slack: FakeSlack, any_db_url: str) -> Live:
    env = {**slack_env(fake_slack), "NPS_BOT_SLACK_MAX_INLINE_WAIT": "0.5", "NPS_BOT_SLACK_TIMEOUT": "1"}
    return make_live(env=env, database_url=any_db_url)


def schedule(live: Live, **customer: Any) -> int:
    r = live.post_generic(generic_event(1, customer=customer) if customer else generic_event(1))
    assert r.status_code == 202 and live.outcome(r)["status"] == "scheduled", r.text
    live.clock.advance(timedelta(hours=1))  # the survey delay
    return int(only_survey(live).id)


def run_worker(live: Live) -> None:
    assert live.worker().run_once() == 1


def retry_when_due(live: Live) -> None:
    """Move the clock to the retry's due time and run the worker again."""
    row = only_survey(live)
    assert row.state == "scheduled" and row.due_at > live.clock.now()
    live.clock.advance(row.due_at - live.clock.now())
    run_worker(live)


def bot_posts(fake: FakeSlack) -> list[Call]:
    """chat.postMessage calls Slack accepted from the app (not from the test's own client)."""
    return [c for c in fake.calls_to("chat.postMessage") if c.ok and c.token == "xoxb-test-token"]


def looks(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.calls if c.method in LOOKS]


def post_as_the_earlier_attempt(fake: FakeSlack, survey_id: int, user: str = "U00000001") -> str:
    """Put the survey's DM in Slack the way an earlier attempt posted it; returns its "channel:ts"."""
    client = WebClient(token="xoxb-earlier-attempt", base_url=fake.base_url, retry_handlers=[])
    posted = client.chat_postMessage(channel=user, text="survey", metadata=survey_metadata(survey_id))
    return f"{posted['channel']}:{posted['ts']}"


# -- answers that say nothing was posted: the retry posts at once ---------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, "ratelimited"), (200, "request_timeout")],
    ids=["429", "request_timeout"],
)
def test_after_an_answer_that_nothing_was_posted_the_retry_posts_without_looking(
    live: Live, fake_slack: FakeSlack, status: int, error: str
) -> None:
    survey_id = schedule(live)
    fake_slack.fail("chat.postMessage", status=status, retry_after=RETRY_AFTER, error=error)
    run_worker(live)
    row = only_survey(live)
    assert (row.state, row.attempts, row.post_attempted_at) == ("scheduled", 1, None), "nothing in doubt"
    assert error in row.last_error or "rate limited" in row.last_error

    if status == 429:
        time.sleep(RETRY_AFTER)  # the pause is kept on the wall clock, shared with other processes
    retry_when_due(live)

    assert looks(fake_slack) == [], "no conversations.open / conversations.history"
    (dm,) = bot_posts(fake_slack)
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [status, 200]
    row = only_survey(live)
    assert (row.state, row.attempts, row.post_attempted_at) == ("sent", 2, None)
    assert row.delivery_ref == f"{dm.response['channel']}:{dm.response['ts']}"
    assert dm.params["metadata"]["event_payload"]["survey_id"] == survey_id


def test_a_look_up_that_failed_is_retried_without_looking(live: Live, fake_slack: FakeSlack) -> None:
    """users.lookupByEmail fails before any post was tried: the retry looks up and posts, nothing more."""
    fake_slack.add_user("U0CUST0001", "customer1@example.com")
    schedule(live, slack_user_id=None)
    fake_slack.fail("users.lookupByEmail", status=200, error="internal_error")  # in doubt, but no post yet
    run_worker(live)
    assert only_survey(live).post_attempted_at is None
    assert fake_slack.calls_to("chat.postMessage") == []

    retry_when_due(live)
    assert looks(fake_slack) == []
    (dm,) = bot_posts(fake_slack)
    assert dm.params["channel"] == "U0CUST0001"
    assert (only_survey(live).state, only_survey(live).attempts) == ("sent", 2)


# -- the post's outcome is unknown: the retry looks first ----------------------------------------------


def test_a_post_whose_answer_timed_out_is_found_and_adopted_not_posted_again(live: Live, fake_slack: FakeSlack) -> None:
    """Slack posts the DM but the answer comes after the client's timeout: the retry finds the DM."""
    survey_id = schedule(live)
    answered = threading.Event()

    def slow_first_post(call: Call) -> None:
        if call.method == "chat.postMessage" and not answered.is_set():
            answered.set()
            time.sleep(1.5)  # past NPS_BOT_SLACK_TIMEOUT; Slack goes on and posts it

    fake_slack.on_call = slow_first_post
    run_worker(live)
    row = only_survey(live)
    assert row.state == "scheduled" and "TimeoutError" in row.last_error
    assert row.post_attempted_at is not None, "the post may have happened"
    (posted,) = fake_slack.wait_for("chat.postMessage")  # recorded once Slack has stored the DM
    assert posted.ok

    retry_when_due(live)
    assert [c.method for c in looks(fake_slack)] == list(LOOKS)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1, "not posted twice"
    row = only_survey(live)
    assert (row.state, row.attempts, row.post_attempted_at) == ("sent", 2, None)
    assert row.delivery_ref == f"{posted.response['channel']}:{posted.response['ts']}"
    assert posted.params["metadata"]["event_payload"]["survey_id"] == survey_id


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, "internal_error"), (502, "bad_gateway"), (200, "internal_error"), (200, "fatal_error")],
    ids=str,
)
@pytest.mark.parametrize("in_slack", [True, False], ids=["posted", "not-posted"])
def test_after_an_answer_that_leaves_the_post_open_the_retry_looks_first(
    live: Live, fake_slack: FakeSlack, status: int, error: str, in_slack: bool
) -> None:
    survey_id = schedule(live)
    fake_slack.fail("chat.postMessage", status=status, error=error)
    run_worker(live)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1, "not repeated blindly: it may have posted"
    assert only_survey(live).post_attempted_at is not None
    earlier = post_as_the_earlier_attempt(fake_slack, survey_id) if in_slack else None

    retry_when_due(live)
    assert [c.method for c in looks(fake_slack)] == list(LOOKS)
    row = only_survey(live)
    assert (row.state, row.attempts, row.post_attempted_at) == ("sent", 2, None)
    if in_slack:
        assert bot_posts(fake_slack) == [] and row.delivery_ref == earlier, "adopted"
    else:
        (dm,) = bot_posts(fake_slack)
        assert row.delivery_ref == f"{dm.response['channel']}:{dm.response['ts']}", "not found: posted once"


def test_a_look_that_fails_keeps_the_post_in_doubt(live: Live, fake_slack: FakeSlack) -> None:
    """A 429 on conversations.history: the next attempt must still look (the earlier post is still open)."""
    survey_id = schedule(live)
    fake_slack.fail("chat.postMessage", status=502, error="bad_gateway")
    run_worker(live)
    earlier = post_as_the_earlier_attempt(fake_slack, survey_id)
    fake_slack.fail("conversations.history", status=429, retry_after=RETRY_AFTER)
    retry_when_due(live)
    row = only_survey(live)
    assert (row.state, row.attempts) == ("scheduled", 2) and row.post_attempted_at is not None

    time.sleep(RETRY_AFTER)
    retry_when_due(live)
    assert len(fake_slack.calls_to("conversations.history")) == 2
    assert bot_posts(fake_slack) == []
    row = only_survey(live)
    assert (row.state, row.delivery_ref, row.post_attempted_at) == ("sent", earlier, None)


# -- a worker that died ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stamped", [True, False], ids=["died-after-the-stamp", "died-before-the-stamp"])
def test_a_survey_whose_worker_died_is_looked_for_only_after_the_stamp(
    live: Live, fake_slack: FakeSlack, stamped: bool
) -> None:
    """A worker claims the survey (and maybe stamps it and posts), then dies; its lease runs out and
    another worker takes the survey over."""
    survey_id = schedule(live)
    engine, lease, now = live.ctx.engine, live.ctx.settings.worker_lease, live.clock.now()
    assert claims.claim_due(engine, "dead-worker", now, lease, 10) == [survey_id]
    earlier = None
    if stamped:
        assert claims.start_delivery(engine, survey_id, "dead-worker", now, lease)
        earlier = post_as_the_earlier_attempt(fake_slack, survey_id)  # Slack has it; the worker never heard
    assert live.worker().run_once() == 0, "held while the lease lasts"

    live.clock.advance(lease + timedelta(seconds=1))
    run_worker(live)
    row = only_survey(live)
    assert (row.state, row.attempts, row.post_attempted_at) == ("sent", 2, None)
    if stamped:
        assert [c.method for c in looks(fake_slack)] == list(LOOKS), "one look"
        assert bot_posts(fake_slack) == [] and row.delivery_ref == earlier, "adopted, no second DM"
    else:
        assert looks(fake_slack) == [], "nothing was handed to Slack: no look"
        (dm,) = bot_posts(fake_slack)
        assert row.delivery_ref == f"{dm.response['channel']}:{dm.response['ts']}"


def test_the_stamp_is_committed_before_chat_post_message(live: Live, fake_slack: FakeSlack) -> None:
    survey_id = schedule(live)
    seen: list[Any] = []

    def read_the_row(call: Call) -> None:
        if call.method == "chat.postMessage":
            with live.ctx.engine.connect() as conn:
                query = sa.select(surveys.c.post_attempted_at).where(surveys.c.id == survey_id)
                seen.append(conn.execute(query).scalar_one())

    fake_slack.on_call = read_the_row
    run_worker(live)
    assert seen == [live.clock.now()], "what another worker would find if this one died now"
    assert only_survey(live).post_attempted_at is None, "sent: cleared"


# -- the upgrade ----------------------------------------------------------------------------------------


def test_the_upgrade_keeps_the_look_for_surveys_being_delivered_or_retried(blank_db_url: str) -> None:
    """Before migration 0011 every retry looked; surveys in flight or waiting for a retry keep that."""
    engine = create_engine_for(blank_db_url)
    migrate(engine, "0010")
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    cases = {"sending": ("sending", 1), "retrying": ("scheduled", 1), "new": ("scheduled", 0), "sent": ("sent", 1)}
    common = {"kind": "nps", "connector": "generic", "language": "en", "due_at": at, "created_at": at}
    with engine.begin() as conn:
        for n, (name, (state, attempts)) in enumerate(cases.items()):
            values = {"token": name, "ticket_id": f"T{n}", "state": state, "attempts": attempts, "updated_at": at}
            conn.execute(surveys.insert().values(**common, **values))
    migrate(engine)
    with engine.connect() as conn:
        stamps = dict(conn.execute(sa.select(surveys.c.token, surveys.c.post_attempted_at)).all())
    engine.dispose()
    assert stamps == {"sending": at, "retrying": at, "new": None, "sent": None}
