"""Detractor alerts end to end: signed webhook → survey DM → detractor click → alert in the team
channel → comment updates the same message → "I'll follow up" → "Resolved" with an outcome."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.slack.services.alerts import AlertListener
from nps_bot.followups import alerts as alert_store
from nps_bot.followups import subscriptions
from nps_bot.models import Answer
from nps_bot.store.schema import alerts, outbox, surveys
from nps_bot.store.schema import subscriptions as subscriptions_table
from nps_bot.surveys import privacy
from tests.fakes.slack import Call, FakeSlack
from tests.support.app import SLACK_SIGNING_SECRET, Live, generic_event
from tests.support.slack import button, click, deliver, slack_env
from tests.support.slack_requests import block_action, signed_post, view_submission

ALERTS = "C0ALERTS"
AGENT = "U0AGENT01"


class Recorded(AlertListener):
    """The real listener, plus an event so tests know when the answer has been handled."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.done = threading.Semaphore(0)

    def on_answer(self, answer: Answer) -> None:
        try:
            super().on_answer(answer)
        finally:
            self.done.release()

    def wait(self) -> None:
        assert self.done.acquire(timeout=5), "the answer never reached the alert listener"


@pytest.fixture
def setup(make_live: Callable[..., Live], fake_slack: FakeSlack) -> Callable[..., tuple[Live, Recorded]]:
    def start(database_url: str | None = None, **rule: Any) -> tuple[Live, Recorded]:
        live = make_live(env=slack_env(fake_slack), database_url=database_url)
        rule.setdefault("max_score", 6)
        subscriptions.save(
            live.ctx.engine,
            kind="alert",
            platform="slack",
            channel_id=ALERTS,
            created_by="U0LEAD",
            now=live.clock.now(),
            **rule,
        )
        # The app wires alerts itself; swap in the same listener with a completion signal for the test.
        slack = live.ctx.integrations["slack"]
        listener = Recorded(live.ctx, slack.client)  # type: ignore[attr-defined]
        slack.alerts = listener  # type: ignore[attr-defined]
        return live, listener

    return start


def alert_rows(live: Live) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(alerts)))


def alert_posts(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == ALERTS]


def alert_updates(fake: FakeSlack, count: int) -> list[Call]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [c for c in fake.calls_to("chat.update") if c.params.get("channel") == ALERTS]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"expected {count} alert updates, got {len(found)}")


def click_alert(live: Live, post: Call, blocks: list[dict[str, Any]], label: str, user: str = AGENT) -> None:
    message = {"type": "message", "ts": post.response["ts"], "text": post.params["text"], "blocks": blocks}
    body = block_action(user, ALERTS, message, button(blocks, label))
    assert signed_post(live.http, SLACK_SIGNING_SECRET, body).status_code == 200


def test_detractor_alert_comment_claim_and_resolve(setup: Any, fake_slack: FakeSlack, any_db_url: str) -> None:
    live, listener = setup(any_db_url)
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)

    click(live, fake_slack, dm, "3")
    listener.wait()
    (post,) = alert_posts(fake_slack)
    text = json.dumps(post.params["blocks"], ensure_ascii=False)
    assert "3/10" in text and "detractor" in text
    for expected in ("Rūta Jankauskienė", "Ona", "Billing", "generic", "https://help.example.com/tickets/1001"):
        assert expected in text
    assert "customer1@example.com" not in text, "no e-mail in the channel"
    (row,) = alert_rows(live)
    assert (row.state, row.message_ref) == ("posted", f"{ALERTS}:{post.response['ts']}")

    # The "why" modal was opened by the survey click; the comment updates the same alert message.
    (modal,) = fake_slack.wait_for("views.open")
    values = {"comment": {"comment": {"type": "plain_text_input", "value": "VAT <wrong> again & again"}}}
    r = signed_post(live.http, SLACK_SIGNING_SECRET, view_submission("U00000001", modal.params["view"], values))
    assert r.status_code == 200
    listener.wait()
    (update,) = alert_updates(fake_slack, 1)
    assert update.params["ts"] == post.response["ts"]
    assert "VAT &lt;wrong&gt; again &amp; again" in json.dumps(update.params["blocks"])
    assert len(alert_posts(fake_slack)) == 1, "never a second post"

    click_alert(live, post, update.params["blocks"], "I'll follow up")
    claimed = alert_updates(fake_slack, 2)[-1]
    assert f"<@{AGENT}> is following up" in json.dumps(claimed.params["blocks"])
    (row,) = alert_rows(live)
    assert row.claimed_by == AGENT and row.claimed_at is not None
    with pytest.raises(AssertionError):
        button(claimed.params["blocks"], "I'll follow up")

    # A second claim by someone else changes nothing and tells them who has it.
    click_alert(live, post, update.params["blocks"], "I'll follow up", user="U0OTHER01")
    (note,) = fake_slack.wait_for("chat.postEphemeral")
    assert AGENT in note.params["text"]
    assert alert_rows(live)[0].claimed_by == AGENT

    click_alert(live, post, claimed.params["blocks"], "Resolved")
    opened = fake_slack.wait_for("views.open", count=2)[-1]
    view = opened.params["view"]
    assert view["callback_id"] == "nps_alert_outcome"
    assert view["blocks"][0]["element"]["max_length"] == 300

    empty = {"outcome": {"outcome": {"type": "plain_text_input", "value": "   "}}}
    r = signed_post(live.http, SLACK_SIGNING_SECRET, view_submission(AGENT, view, empty))
    assert r.json()["response_action"] == "errors"

    done = {"outcome": {"outcome": {"type": "plain_text_input", "value": "Called her,\nrefunded the VAT"}}}
    assert signed_post(live.http, SLACK_SIGNING_SECRET, view_submission(AGENT, view, done)).status_code == 200
    closed = alert_updates(fake_slack, 3)[-1]
    assert f"Loop closed by <@{AGENT}>: Called her, refunded the VAT" in json.dumps(closed.params["blocks"])
    assert not [b for b in closed.params["blocks"] if b["type"] == "actions"], "no buttons on a closed loop"
    (row,) = alert_rows(live)
    assert (row.resolved_by, row.outcome) == (AGENT, "Called her, refunded the VAT")
    assert row.resolved_at is not None


def test_score_raised_updates_the_alert(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    click(live, fake_slack, dm, "2")
    listener.wait()
    (post,) = alert_posts(fake_slack)
    click(live, fake_slack, dm, "9")
    listener.wait()
    (update,) = alert_updates(fake_slack, 1)
    assert update.params["ts"] == post.response["ts"]
    assert "changed the score to *9/10*" in json.dumps(update.params["blocks"])
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"], "no follow-up needed: no buttons"
    assert len(alert_posts(fake_slack)) == 1


def test_slack_down_alert_stays_pending_then_retry_job_posts(
    setup: Any, fake_slack: FakeSlack, any_db_url: str
) -> None:
    live, listener = setup(any_db_url)
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    # A failed post is not repeated by the client (Slack may have posted): the alert job retries it.
    fake_slack.fail("chat.postMessage", status=500)
    click(live, fake_slack, dm, "1")
    listener.wait()
    (row,) = alert_rows(live)
    assert row.state == "pending" and row.message_ref is None
    assert row.next_attempt_at > live.clock.now()
    assert live.worker().run_once() == 0, "not before the backoff"

    live.clock.advance(timedelta(minutes=1))
    assert live.worker().run_once() == 1
    (row,) = alert_rows(live)
    assert row.state == "posted" and row.attempts == 2
    assert len([c for c in alert_posts(fake_slack) if c.ok]) == 1
    assert live.worker().run_once() == 0, "posted once"


def test_promoter_makes_no_alert(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    click(live, fake_slack, dm, "10")
    listener.wait()
    assert alert_rows(live) == [] and alert_posts(fake_slack) == []


def test_filter_mismatch_makes_no_alert(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup(filter_dimension="team", filter_value="Support")
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    click(live, fake_slack, dm, "0")
    listener.wait()
    assert alert_rows(live) == [] and alert_posts(fake_slack) == []


def test_attribute_filter_match_alerts_and_queues_outbound_event(
    setup: Any, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPS_BOT_WEBHOOK_URLS", "https://hooks.example.com/nps")
    live, listener = setup(filter_dimension="plan", filter_value="PRO")
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    click(live, fake_slack, dm, "5")
    listener.wait()
    assert len(alert_posts(fake_slack)) == 1
    with live.ctx.engine.connect() as conn:
        events = list(conn.execute(sa.select(outbox.c.event_type, outbox.c.payload)))
    (event,) = [e for e in events if e.event_type == "alert.created"]
    assert event.payload["score"] == 5 and event.payload["customer_name"] == "Rūta Jankauskienė"
    assert "customer1@example.com" not in json.dumps(event.payload)


def answer_directly(live: Live, listener: Recorded, score: int | None = None, comment: str | None = None) -> None:
    """Record an answer without going through a Slack click (no DM updates to muddy chat.update)."""
    with live.ctx.engine.connect() as conn:
        token = conn.execute(sa.select(surveys.c.token)).scalar_one()
    if score is not None:
        answer = live.ctx.surveys.record_score(token, score, source="web")
    else:
        answer = live.ctx.surveys.record_comment(token, comment or "")
    listener.on_answer(answer)


def test_failed_update_is_retried_after_backoff_not_on_every_poll(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    answer_directly(live, listener, score=3)
    (post,) = alert_posts(fake_slack)
    fake_slack.fail("chat.update", status=500, times=3)  # the client's own two retries fail too
    answer_directly(live, listener, comment="Still waiting for the refund")
    (row,) = alert_rows(live)
    assert row.needs_update and row.next_attempt_at > live.clock.now()
    calls = len(fake_slack.calls_to("chat.update"))
    for _ in range(3):
        live.worker().run_once()
    assert len(fake_slack.calls_to("chat.update")) == calls, "no Slack call on every poll while backing off"

    live.clock.advance(timedelta(minutes=5))
    assert live.worker().run_once() == 1
    update = fake_slack.calls_to("chat.update")[-1]
    assert update.ok and update.params["ts"] == post.response["ts"]
    assert "Still waiting for the refund" in json.dumps(update.params["blocks"])
    (row,) = alert_rows(live)
    assert not row.needs_update and row.next_attempt_at is None
    assert live.worker().run_once() == 0


def test_update_of_a_deleted_message_is_given_up(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    answer_directly(live, listener, score=3)
    fake_slack.fail("chat.update", status=200, error="message_not_found")
    answer_directly(live, listener, comment="Hello?")
    calls = len(fake_slack.calls_to("chat.update"))
    live.clock.advance(timedelta(hours=7))
    live.worker().run_once()
    assert len(fake_slack.calls_to("chat.update")) == calls, "a deleted message is not retried"
    (row,) = alert_rows(live)
    assert row.state == "posted" and not row.needs_update


def test_alert_withdrawn_before_posting_comes_back_when_the_score_drops_again(
    setup: Any, fake_slack: FakeSlack
) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    fake_slack.fail("chat.postMessage", status=500)
    answer_directly(live, listener, score=2)
    assert alert_rows(live)[0].state == "pending"
    answer_directly(live, listener, score=9)
    assert alert_rows(live)[0].state == "withdrawn"
    answer_directly(live, listener, score=1)
    (row,) = alert_rows(live)
    assert row.state == "posted"
    (post,) = [c for c in alert_posts(fake_slack) if c.ok]
    assert "1/10" in json.dumps(post.params["blocks"])


def test_withdrawn_while_posting_still_gets_its_message_corrected(setup: Any, fake_slack: FakeSlack) -> None:
    live, _ = setup()
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    with live.ctx.engine.begin() as conn:
        survey_id = conn.execute(sa.select(surveys.c.id)).scalar_one()
        sub_id = conn.execute(sa.select(subscriptions_table.c.id)).scalar_one()
        alert_id = alert_store.create(conn, survey_id, sub_id, ALERTS, live.clock.now())
    assert alert_id is not None
    # The score went up while the first post was on its way to Slack...
    assert alert_store.withdraw_pending(live.ctx.engine, alert_id)
    # ...so when the post lands, the poster is told to rewrite it.
    assert alert_store.mark_posted(live.ctx.engine, alert_id, f"{ALERTS}:1.0") is True


def test_fallback_text_is_escaped(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1, customer={"name": "<!channel> Eve"}))
    deliver(live, fake_slack)
    answer_directly(live, listener, score=0)
    (post,) = alert_posts(fake_slack)
    assert "<!channel>" not in post.params["text"] and "&lt;!channel&gt; Eve" in post.params["text"]
    assert "<!channel>" not in json.dumps(post.params["blocks"])


def test_forgetting_a_customer_rewrites_the_alerts_already_posted(setup: Any, fake_slack: FakeSlack) -> None:
    live, listener = setup()
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    answer_directly(live, listener, score=2)
    answer_directly(live, listener, comment="Call me on +370 600 00000, Rūta")
    (post,) = alert_posts(fake_slack)
    shown = json.dumps(alert_updates(fake_slack, 1)[-1].params, ensure_ascii=False)
    assert "Rūta Jankauskienė" in shown and "+370 600 00000" in shown  # what must go
    updates = len(fake_slack.calls_to("chat.update"))

    erased = privacy.forget(live.ctx.engine, "Customer1@example.com", live.clock.now(), actor="test")
    assert erased.comments == 1
    (row,) = alert_rows(live)
    assert row.needs_update
    assert live.worker().run_once() == 1  # the alert job edits the message
    (update,) = fake_slack.calls_to("chat.update")[updates:]
    assert update.ok and update.params["ts"] == post.response["ts"]
    rewritten = json.dumps(update.params, ensure_ascii=False)
    for gone in ("Rūta", "Jankauskienė", "+370 600 00000", "customer1@example.com"):
        assert gone not in rewritten
    assert "2/10" in rewritten  # the score stays: reports and the alert keep the anonymous facts
    (row,) = alert_rows(live)
    assert not row.needs_update
