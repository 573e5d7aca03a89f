"""The whole story over HTTP: signed webhook → durable survey → Slack DM → score and "why" in chat
→ /nps summary, with the real app on 127.0.0.1 and a fake Slack Web API."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from nps_bot.store.schema import responses, surveys, webhook_events
from nps_bot.surveys import i18n
from tests.db_helpers import only_survey, rows
from tests.fakes.slack import FakeSlack
from tests.support.app import GENERIC_SECRET, SLACK_SIGNING_SECRET, Live, generic_event
from tests.support.slack import button, click, deliver, slack_env
from tests.support.slack_requests import dm_event, signed_post, slash_command, view_submission


@pytest.fixture
def live(make_live: Callable[..., Live], fake_slack: FakeSlack) -> Live:
    return make_live(env=slack_env(fake_slack))


def test_webhook_to_dm_to_answer_to_summary(live: Live, fake_slack: FakeSlack) -> None:
    r = live.post_generic(generic_event(1))
    assert r.status_code == 202
    assert live.outcome(r)["status"] == "scheduled"
    assert live.worker().run_once() == 0, "nothing is due before the delay"

    dm = deliver(live, fake_slack)
    assert dm.params["channel"] == "U00000001"
    actions = [b for b in dm.params["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    buttons = actions[0]["elements"]
    assert [b["text"]["text"] for b in buttons] == [str(n) for n in range(11)]
    token = only_survey(live).token
    assert {b["value"] for b in buttons} == {f"{token}:{n}" for n in range(11)}
    question = i18n.t("lt", "survey.question", company="Acme")
    assert any(question in json.dumps(b, ensure_ascii=False) for b in dm.params["blocks"]), "asked in Lithuanian"
    assert only_survey(live).state == "sent"

    click(live, fake_slack, dm, "3")
    (modal,) = fake_slack.wait_for("views.open")
    assert modal.params["trigger_id"] == "1337.42.abcdef"
    label = modal.params["view"]["blocks"][0]["label"]["text"]
    assert label == i18n.t("lt", "followup.detractor"), "a detractor is asked what went wrong"
    (update,) = fake_slack.wait_for("chat.update")
    assert update.params["ts"] == dm.response["ts"]
    assert i18n.t("lt", "survey.thanks_score", score=3) in json.dumps(update.params["blocks"], ensure_ascii=False)
    chosen = button(update.params["blocks"], "3")
    assert chosen.get("style") == "primary"
    (answer,) = rows(live, responses)
    assert (answer.score, answer.source, answer.responder) == (3, "slack", "U00000001")

    click(live, fake_slack, dm, "9")
    fake_slack.wait_for("chat.update", count=2)
    (answer,) = rows(live, responses)
    assert answer.score == 9, "a second click changes the score and never adds a response"
    assert len(fake_slack.calls_to("views.open")) == 1, "the modal opens on the first answer only"

    values = {"comment": {"comment": {"type": "plain_text_input", "value": "Fast and kind, thanks!"}}}
    r = signed_post(live.http, SLACK_SIGNING_SECRET, view_submission("U00000001", modal.params["view"], values))
    assert r.status_code == 200
    fake_slack.wait_for("chat.update", count=3)
    (answer,) = rows(live, responses)
    assert answer.comment == "Fast and kind, thanks!"
    assert only_survey(live).state == "commented"

    r = signed_post(live.http, SLACK_SIGNING_SECRET, slash_command("score 30d by team"))
    assert r.status_code == 200
    reply = r.json()
    assert reply["response_type"] == "ephemeral"
    text = json.dumps(reply["blocks"])
    assert "NPS last 30 days: +100" in reply["text"]
    assert "Billing" in text and "too few answers" in text


def test_duplicate_webhook_makes_one_survey(live: Live) -> None:
    first = live.post_generic(generic_event(1))
    again = live.post_generic(generic_event(1))
    assert live.outcome(first)["status"] == "scheduled"
    assert again.status_code == 202
    assert live.outcome(again)["status"] == "duplicate"
    other_event_same_ticket = live.post_generic(generic_event(1, id="evt_other"))
    assert live.outcome(other_event_same_ticket)["status"] == "rescheduled"
    assert len(rows(live, surveys)) == 1


def test_bad_requests_are_refused_and_nothing_is_stored(live: Live) -> None:
    body = generic_event(1)
    assert live.post_generic(body, secret="wrong").status_code == 401
    stale = live.post_generic(body, at=live.clock.now() - timedelta(minutes=6))
    assert stale.status_code == 401
    assert "window" in stale.json()["error"]
    no_header = live.http.post("/webhooks/generic", content=json.dumps(body))
    assert no_header.status_code == 401
    malformed = live.post_generic(b'{"event": "ticket.closed", ')
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]
    wrong_shape = live.post_generic({"event": "ticket.closed", "id": "evt_x", "ticket": {"subject": "no id"}})
    assert wrong_shape.status_code == 400
    assert "ticket.id" in wrong_shape.json()["error"]
    huge = live.post_generic(b"{" + b" " * (1024 * 1024) + b"}")
    assert huge.status_code == 413
    ignored = live.post_generic(generic_event(1, event="ticket.assigned"))
    assert (ignored.status_code, live.outcome(ignored)["status"]) == (202, "ignored")
    unknown = live.http.post("/webhooks/nope", content=b"{}")
    assert unknown.status_code == 404
    assert rows(live, surveys) == []
    assert rows(live, webhook_events) == []


def test_slack_requests_must_be_signed(live: Live) -> None:
    assert signed_post(live.http, "not-the-secret", slash_command("help")).status_code == 401
    old = signed_post(live.http, SLACK_SIGNING_SECRET, slash_command("help"), timestamp=1_600_000_000)
    assert old.status_code == 401
    ok = signed_post(live.http, SLACK_SIGNING_SECRET, slash_command("help"))
    assert ok.status_code == 200
    assert "/nps score" in ok.json()["text"]


@pytest.mark.parametrize("text", ["bogus", "score yesterday", "score 30d by", "score 30d per team"])
def test_bad_slash_commands_answer_with_usage(live: Live, text: str) -> None:
    r = signed_post(live.http, SLACK_SIGNING_SECRET, slash_command(text))
    assert r.status_code == 200
    assert "Usage" in r.json()["text"]


def test_customer_found_by_email(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0LOOKED", "customer1@example.com")
    live.post_generic(generic_event(1, customer={"slack_user_id": None}))
    dm = deliver(live, fake_slack)
    assert fake_slack.calls_to("users.lookupByEmail")[0].params["email"] == "customer1@example.com"
    assert dm.params["channel"] == "U0LOOKED"


def test_customer_with_no_slack_identity_is_undeliverable(live: Live, fake_slack: FakeSlack) -> None:
    live.post_generic(generic_event(1, customer={"slack_user_id": None, "email": None, "id": "c-77"}))
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    row = only_survey(live)
    assert row.state == "undeliverable"
    assert "neither a Slack user id nor an e-mail" in row.reason
    assert fake_slack.calls_to("chat.postMessage") == []


def test_unknown_email_is_undeliverable(live: Live, fake_slack: FakeSlack) -> None:
    live.post_generic(generic_event(1, customer={"slack_user_id": None}))
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    row = only_survey(live)
    assert (row.state, row.reason) == ("undeliverable", "slack: users_not_found")


def test_short_rate_limit_is_waited_out(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [429, 200]
    assert only_survey(live).state == "sent"


def test_long_rate_limit_reschedules(live: Live, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=120)
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    row = only_survey(live)
    assert row.state == "scheduled"
    assert row.due_at == live.clock.now() + timedelta(seconds=120)
    assert "rate limited" in row.last_error
    live.clock.advance(timedelta(seconds=120))
    later = datetime.now(UTC) + timedelta(seconds=121)
    live.ctx.api_limits.now = lambda: later  # the pause every worker honours runs on the wall clock
    live.worker().run_once()
    assert only_survey(live).state == "sent"


def test_a_killed_workers_survey_is_picked_up_again(live: Live, fake_slack: FakeSlack) -> None:
    from nps_bot.delivery import claims

    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    s = live.ctx.settings
    claimed = claims.claim_due(live.ctx.engine, "dead-worker", live.clock.now(), s.worker_lease, 10)
    assert len(claimed) == 1
    assert live.worker().run_once() == 0, "leased work is not taken while the lease holds"
    live.clock.advance(s.worker_lease + timedelta(seconds=1))
    assert live.worker().run_once() == 1
    assert only_survey(live).state == "sent"
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_throttled_customer_is_not_surveyed_twice(live: Live) -> None:
    live.post_generic(generic_event(1))
    second = live.post_generic(generic_event(2, customer={"email": "customer1@example.com"}))
    assert live.outcome(second) == {"status": "suppressed", "survey_id": 2, "reason": "throttled: surveyed recently"}
    live.clock.advance(timedelta(days=31))
    third = live.post_generic(generic_event(3, customer={"email": "customer1@example.com"}))
    assert live.outcome(third)["status"] == "scheduled"


def test_typed_replies_in_the_dm_are_answers(live: Live, fake_slack: FakeSlack) -> None:
    live.post_generic(generic_event(1))
    dm = deliver(live, fake_slack)
    channel = dm.response["channel"]
    event = dm_event("U00000001", channel, "8", event_id="Ev1")
    assert signed_post(live.http, SLACK_SIGNING_SECRET, event, content_type="application/json").status_code == 200
    (reply,) = fake_slack.wait_for("chat.postMessage", count=2)[1:]
    assert i18n.t("lt", "followup.passive") in reply.params["text"]
    comment = dm_event("U00000001", channel, "Faster replies, please", event_id="Ev2")
    signed_post(live.http, SLACK_SIGNING_SECRET, comment, content_type="application/json")
    fake_slack.wait_for("chat.postMessage", count=3)
    (answer,) = rows(live, responses)
    assert (answer.score, answer.comment) == (8, "Faster replies, please")


def test_healthz(live: Live) -> None:
    r = live.http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_without_a_slack_token_the_console_channel_delivers(
    make_live: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    live = make_live()
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    with caplog.at_level("INFO", logger="nps_bot.delivery.console"):
        live.worker().run_once()
    row = only_survey(live)
    assert (row.state, row.delivery_channel) == ("sent", "console")
    assert f"/s/{row.token}" in caplog.text
    assert "customer1@example.com" not in caplog.text
    assert live.http.post("/slack/events", content=b"{}").status_code == 503


def test_hosted_page_takes_one_click_answers(make_live: Callable[..., Live]) -> None:
    live = make_live()
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    token = only_survey(live).token
    page = live.http.get(f"/s/{token}")
    assert page.status_code == 200
    assert i18n.t("lt", "survey.question", company="Acme") in page.text
    answered = live.http.post(f"/s/{token}", data={"score": 10})
    assert i18n.t("lt", "followup.promoter") in answered.text
    done = live.http.post(f"/s/{token}/comment", data={"comment": "Puiku"})
    assert done.status_code == 200
    (answer,) = rows(live, responses)
    assert (answer.score, answer.comment, answer.source) == (10, "Puiku", "web")
    too_high = live.http.post(f"/s/{token}", data={"score": 11})
    assert too_high.status_code == 400
    assert i18n.t("lt", "web.bad_score", low=0, high=10) in too_high.text
    assert live.http.get("/s/not-a-token").status_code == 404


def test_generic_secret_missing_refuses_everything(
    make_live: Callable[..., Live], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = make_live()
    monkeypatch.delenv("NPS_BOT_GENERIC_SECRET")
    from integrations.generic import create

    live.ctx.integrations["generic"] = create(live.ctx)
    r = live.post_generic(generic_event(1), secret=GENERIC_SECRET)
    assert r.status_code == 401
    assert "NPS_BOT_GENERIC_SECRET" in r.json()["error"]
