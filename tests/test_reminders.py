"""One reminder for a sent, unanswered survey (NPS_BOT_REMINDER_AFTER), through the real app and worker:
Slack DMs to the fake Slack Web API, e-mail to a real SMTP server (aiosmtpd), help-desk replies mocked
with respx; time moves with the injectable clock."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import respx

from nps_bot.delivery.worker import Worker
from nps_bot.store.schema import responses, surveys
from nps_bot.surveys import i18n, privacy, unsubscribe
from tests.connectors.helpers import CHATWOOT_ENV, fixture, mock_chatwoot, post_chatwoot
from tests.db_helpers import rows
from tests.fakes.slack import Call, FakeSlack
from tests.support.app import Live, generic_event
from tests.support.slack import click, slack_env
from tests.support.smtp import Mailbox

AFTER = timedelta(hours=48)
REMINDER_LT = i18n.t("lt", "survey.reminder")


def schedule(live: Live, n: int = 1, **overrides: Any) -> None:
    r = live.post_generic(generic_event(n, **overrides))
    assert r.status_code == 202 and live.outcome(r)["status"] == "scheduled", r.text


def dms(fake: FakeSlack) -> list[Call]:
    return fake.calls_to("chat.postMessage")


def text_of(call: Call) -> str:
    return json.dumps(call.params["blocks"], ensure_ascii=False)


def survey_of(call: Call) -> int:
    metadata = call.params["metadata"]
    metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    return int(metadata["event_payload"]["survey_id"])


# -- Slack ------------------------------------------------------------------------------------------


@pytest.fixture
def live(make_live: Callable[..., Live], fake_slack: FakeSlack) -> Live:
    return make_live(env=slack_env(fake_slack), reminder_after=AFTER)


def sent_on_slack(live: Live, fake: FakeSlack, n: int = 1) -> Call:
    schedule(live, n)
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    return dms(fake)[-1]


def test_an_unanswered_dm_gets_one_reminder_whose_buttons_answer(live: Live, fake_slack: FakeSlack) -> None:
    first = sent_on_slack(live, fake_slack)
    assert REMINDER_LT not in text_of(first)

    live.clock.advance(AFTER - timedelta(minutes=1))
    assert live.worker().run_once() == 0, "not before the delay"
    live.clock.advance(timedelta(minutes=1))
    assert live.worker().run_once() == 1
    first_again, reminder = dms(fake_slack)
    assert first_again is first
    assert reminder.params["channel"] == first.params["channel"] == "U00000001"
    assert REMINDER_LT in text_of(reminder) and reminder.params["text"].startswith(REMINDER_LT)
    buttons = [b for b in reminder.params["blocks"] if b["type"] == "actions"]
    assert buttons == [b for b in first.params["blocks"] if b["type"] == "actions"], "the same buttons, same token"
    (row,) = rows(live, surveys)
    assert row.reminded_at == live.clock.now()
    assert row.delivery_ref.endswith(first.response["ts"]), "the first DM stays the survey's message"
    assert (row.state, row.lease_owner, row.attempts) == ("sent", None, 1)
    assert live.worker().run_once() == 0, "the next poll does not remind again"

    for _ in range(3):  # never a second reminder
        live.clock.advance(AFTER)
        assert live.worker().run_once() == 0
    assert len(dms(fake_slack)) == 2

    click(live, fake_slack, reminder, "8")
    (update,) = fake_slack.wait_for("chat.update")
    assert update.params["ts"] == first.response["ts"]
    (answer,) = rows(live, responses)
    assert (answer.score, answer.source, answer.responder) == (8, "slack", "U00000001")
    click(live, fake_slack, first, "6")  # the first DM keeps working
    fake_slack.wait_for("chat.update", count=2)
    (answer,) = rows(live, responses)
    assert answer.score == 6


def answered(live: Live, fake: FakeSlack, dm: Call) -> None:
    click(live, fake, dm, "9")
    fake.wait_for("chat.update")


def forgotten(live: Live, fake: FakeSlack, dm: Call) -> None:
    privacy.forget(live.ctx.engine, "customer1@example.com", live.clock.now(), actor="test")


def unsubscribed(live: Live, fake: FakeSlack, dm: Call) -> None:
    assert unsubscribe.unsubscribe(live.ctx.surveys, "Customer1@Example.com", source="page")


@pytest.mark.parametrize("after_delivery", [answered, forgotten, unsubscribed], ids=lambda f: f.__name__)
def test_no_reminder(live: Live, fake_slack: FakeSlack, after_delivery: Callable[..., None]) -> None:
    dm = sent_on_slack(live, fake_slack)
    after_delivery(live, fake_slack, dm)
    live.clock.advance(AFTER)
    live.worker().run_once()
    assert dms(fake_slack) == [dm]


def test_no_reminder_past_expiry(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    live = make_live(env=slack_env(fake_slack), reminder_after=AFTER, survey_expiry=timedelta(hours=24))
    dm = sent_on_slack(live, fake_slack)
    live.clock.advance(AFTER)
    assert live.worker().run_once() == 0
    assert dms(fake_slack) == [dm]
    (row,) = rows(live, surveys)
    assert row.reminded_at is None and row.state == "sent"


def test_no_reminder_when_off(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    live = make_live(env=slack_env(fake_slack))
    assert live.ctx.settings.reminder_after is None, "off by default"
    dm = sent_on_slack(live, fake_slack)
    live.clock.advance(AFTER * 3)
    assert live.worker().run_once() == 0
    assert dms(fake_slack) == [dm]


def test_a_passing_slack_failure_is_retried_and_still_sends_one(live: Live, fake_slack: FakeSlack) -> None:
    sent_on_slack(live, fake_slack)
    live.clock.advance(AFTER)
    fake_slack.fail("chat.postMessage", status=200, error="internal_error", times=1)
    live.worker().run_once()
    (row,) = rows(live, surveys)
    assert row.reminded_at is None and row.lease_until > live.clock.now(), "handed back for a later poll"
    assert live.worker().run_once() == 0, "not at once"
    live.clock.advance(timedelta(minutes=5, seconds=1))
    assert live.worker().run_once() == 1
    assert [REMINDER_LT in text_of(c) for c in dms(fake_slack) if c.response["ok"]] == [False, True]


def test_racing_workers_send_each_reminder_once(
    make_live: Callable[..., Live], fake_slack: FakeSlack, any_db_url: str
) -> None:
    live = make_live(env=slack_env(fake_slack), database_url=any_db_url, reminder_after=AFTER, worker_batch_size=3)
    for n in range(1, 9):
        schedule(live, n)
    live.clock.advance(timedelta(hours=1))
    while live.worker().run_once():
        pass
    assert len(dms(fake_slack)) == 8
    live.clock.advance(AFTER)

    workers = [Worker(live.ctx, owner=f"w{i}") for i in range(4)]
    start = threading.Barrier(len(workers))
    handled: list[int] = []

    def race(worker: Worker) -> None:
        start.wait()
        for _ in range(10):  # bounded: a bug that reminds again and again must fail, not hang
            if not (done := worker.remind_due()):
                return
            handled.append(done)

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    reminders = dms(fake_slack)[8:]
    assert sorted(survey_of(c) for c in reminders) == sorted(r.id for r in rows(live, surveys))
    assert sum(handled) == 8
    assert all(REMINDER_LT in text_of(c) for c in reminders)


def test_a_help_desk_reply_is_never_repeated(make_live: Callable[..., Live]) -> None:
    live = make_live(env=CHATWOOT_ENV, delivery=["helpdesk"], survey_delay=timedelta(0), reminder_after=AFTER)
    assert (
        live.outcome(post_chatwoot(live, fixture("chatwoot", "status_changed_resolved.json")))["status"] == "scheduled"
    )
    with respx.mock(assert_all_called=False) as router:
        route = mock_chatwoot(router)
        assert live.worker().run_once() == 1
        live.clock.advance(AFTER)
        assert live.worker().run_once() == 0
    assert route.call_count == 1
    (row,) = rows(live, surveys)
    assert (row.state, row.reminded_at) == ("sent", None)


# -- e-mail -----------------------------------------------------------------------------------------


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def test_an_unanswered_email_gets_one_reminder_with_the_same_links(
    make_live: Callable[..., Live], smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    env = {
        "NPS_BOT_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=false",
        "NPS_BOT_EMAIL_FROM": "Acme Support <support@acme.example>",
        "NPS_BOT_SECRET_KEY": "test-secret-key-for-unsubscribe-links",
    }
    live = make_live(env=env, delivery=["email"], reminder_after=AFTER)
    schedule(live, 1, customer={"slack_user_id": None})
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    live.clock.advance(AFTER)
    assert live.worker().run_once() == 1
    live.clock.advance(AFTER)
    assert live.worker().run_once() == 0
    first, reminder = box.messages()

    (row,) = rows(live, surveys)
    assert row.delivery_ref == first["Message-ID"] and row.reminded_at is not None
    assert reminder["Subject"] == i18n.t("lt", "email.reminder_subject", company="Acme") != first["Subject"]
    assert reminder["Message-ID"] != first["Message-ID"], "receivers would drop a second message with the same id"
    assert reminder["In-Reply-To"] == reminder["References"] == first["Message-ID"]
    assert row.token not in reminder["Message-ID"]
    assert reminder["List-Unsubscribe"] == first["List-Unsubscribe"]
    text = body(reminder, "plain")
    assert text.startswith(REMINDER_LT) and REMINDER_LT not in body(first, "plain")
    assert REMINDER_LT in body(reminder, "html")
    links = [f"{live.url}/s/{row.token}?score={n}" for n in range(11)]
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', body(reminder, "html"))]
    assert hrefs[:11] == links
    assert hrefs == [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', body(first, "html"))]

    landing = live.http.get(links[7])  # a link in the reminder answers the same survey
    action = re.search(r'<form id="answer" method="post" action="([^"]+)">', landing.text).group(1)  # type: ignore[union-attr]
    assert live.http.post(action, data={"score": "7"}).status_code == 200
    (answer,) = rows(live, responses)
    assert (answer.score, answer.source, answer.survey_id) == (7, "web", row.id)
