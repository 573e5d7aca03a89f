"""Trust in Slack: untrusted text can never ping or phish, only a survey's recipient can answer it,
odd input gets the usage line, `/slack/events` has a body limit, and CSV exports carry no formulas.
Everything goes through signed Slack requests to the real app and the fake Slack Web API."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.slack.services.digests import DigestJob
from nps_bot.store.schema import responses
from tests.fakes.slack import Call, FakeSlack
from tests.support.answers import answer, send
from tests.support.app import SLACK_SIGNING_SECRET, Live
from tests.support.slack import admin_in_channel, button, slack_env
from tests.support.slack_requests import block_action, home_opened, signed_post, slash_command, view_submission

ADMIN = "U0ADMIN"
CHANNEL = "C0PUBLIC"
INTRUDER = "U0INTRUDER"
# What a hostile customer, agent or help-desk admin could type into any field we show.
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U0BOSS>", "<https://evil.example|", "<mailto:")
HOSTILE = "<!channel> <!here> <@U0BOSS> <https://evil.example|your bank> & <mailto:x@evil.example|HR>"


@pytest.fixture
def live(make_live: Callable[..., Live], fake_slack: FakeSlack) -> Live:
    return admin_in_channel(make_live, fake_slack, ADMIN, CHANNEL)


def nps(live: Live, text: str, user: str = ADMIN) -> dict[str, Any]:
    r = signed_post(live.http, SLACK_SIGNING_SECRET, slash_command(text, user_id=user, channel=CHANNEL))
    assert r.status_code == 200
    return dict(r.json())


def assert_safe(payload: Any, where: str) -> None:
    dumped = json.dumps(payload, ensure_ascii=False)
    for ping in PINGS:
        assert ping not in dumped, f"{where}: {ping!r} reached Slack unescaped"
    assert "|your bank>" not in dumped and "|Verify your account" not in dumped, f"{where}: a disguised link"


def wait_calls(fake: FakeSlack, method: str, channel: str | None = None, count: int = 1) -> list[Call]:
    deadline = time.monotonic() + 5
    while True:
        found = [c for c in fake.calls_to(method) if channel is None or c.params.get("channel") == channel]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def hostile_answer(live: Live, n: int, score: int = 2) -> str:
    return answer(
        live,
        n,
        score,
        f"Nobody helped {HOSTILE}\nsecond line {HOSTILE}",
        ticket={
            "team": f"Team {HOSTILE}",
            "tags": ["<!here>", "vip&co"],
            "url": "https://help.example.com/t/1|Verify your account",
            "subject": f"Refund {HOSTILE}",
        },
        customer={"name": f"Eve {HOSTILE}", "attributes": {"plan": f"<!channel> {HOSTILE}"}},
        agent={"id": "7", "name": f"<@U0BOSS> {HOSTILE}"},
    )


def test_untrusted_text_is_escaped_on_every_surface(live: Live, fake_slack: FakeSlack) -> None:
    nps(live, "alerts here")
    nps(live, "digest here daily 08:30")
    hostile_answer(live, 1)

    for text in ("score", "score by team", "score by plan", "score by agent", "score by tag", "comments", "trend"):
        reply = nps(live, text)
        assert_safe(reply, f"/nps {text}")
    by_team = json.dumps(nps(live, "score by team"), ensure_ascii=False)
    assert "&lt;!channel&gt;" in by_team, "segment names are shown, escaped"
    comments = json.dumps(nps(live, "comments"), ensure_ascii=False)
    assert "&lt;!here&gt;" in comments and "|Verify" not in comments

    (alert,) = wait_calls(fake_slack, "chat.postMessage", CHANNEL)
    assert_safe(alert.params, "alert message")
    assert "#T-1001" in json.dumps(alert.params), "a ticket link that is not a plain URL shows the ticket id only"

    (dm,) = [c for c in fake_slack.calls_to("chat.postMessage") if c.params["channel"] != CHANNEL]
    assert_safe(dm.params, "survey DM")

    r = signed_post(live.http, SLACK_SIGNING_SECRET, home_opened(ADMIN), content_type="application/json")
    assert r.status_code == 200
    (home,) = fake_slack.wait_for("views.publish")
    assert_safe(home.params, "App Home")

    job = DigestJob(live.ctx, live.ctx.integrations["slack"].client)  # type: ignore[attr-defined]
    live.clock.advance(timedelta(days=1))
    assert job.run_due(live.clock.now()) == 1
    (digest,) = wait_calls(fake_slack, "chat.postMessage", CHANNEL, 2)[1:]
    assert_safe(digest.params, "digest")

    for typed in (f"score {HOSTILE}", f"comments {HOSTILE}", f"nonsense {HOSTILE}", f"alerts here team={HOSTILE}"):
        assert_safe(nps(live, typed), f"/nps {typed}")
    assert_safe(nps(live, "digest list"), "/nps digest list")


def click_as(live: Live, dm: Call, label: str, user: str, blocks: list[dict[str, Any]] | None = None) -> None:
    blocks = blocks or dm.params["blocks"]
    message = {"type": "message", "ts": dm.response["ts"], "text": dm.params["text"], "blocks": blocks}
    body = block_action(user, dm.response["channel"], message, button(blocks, label))
    assert signed_post(live.http, SLACK_SIGNING_SECRET, body).status_code == 200


def stored(live: Live) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(responses.c.score, responses.c.comment, responses.c.responder)))


def test_only_the_recipient_can_answer(live: Live, fake_slack: FakeSlack) -> None:
    send(live, 1, customer={"language": "en"})
    (dm,) = fake_slack.calls_to("chat.postMessage")
    recipient = dm.params["channel"]

    click_as(live, dm, "3", INTRUDER)
    (refusal,) = fake_slack.wait_for("chat.postEphemeral")
    assert refusal.params["user"] == INTRUDER
    assert "sent to someone else" in refusal.params["text"] and ":warning:" not in refusal.params["text"]
    assert stored(live) == [] and not fake_slack.calls_to("chat.update") and not fake_slack.calls_to("views.open")

    click_as(live, dm, "9", recipient)
    fake_slack.wait_for("chat.update")
    assert stored(live) == [(9, None, recipient)]

    (opened,) = fake_slack.wait_for("views.open")
    view = opened.params["view"]
    values = {"comment": {"comment": {"type": "plain_text_input", "value": "I did not answer this"}}}
    r = signed_post(live.http, SLACK_SIGNING_SECRET, view_submission(INTRUDER, view, values))
    assert r.status_code == 200 and "someone else" in r.json()["errors"]["comment"]
    assert stored(live) == [(9, None, recipient)]

    update = fake_slack.calls_to("chat.update")[-1]
    click_as(live, dm, "Add a comment", INTRUDER, update.params["blocks"])
    assert len(fake_slack.wait_for("chat.postEphemeral", 2)) == 2
    assert len(fake_slack.calls_to("views.open")) == 1, "no modal for someone else"

    r = signed_post(live.http, SLACK_SIGNING_SECRET, view_submission(recipient, view, values))
    assert r.status_code == 200 and "errors" not in r.text
    assert stored(live) == [(9, "I did not answer this", recipient)]


def test_button_values_that_are_not_scores_show_no_python_errors(live: Live, fake_slack: FakeSlack) -> None:
    token = send(live, 1, customer={"language": "en"})
    (dm,) = fake_slack.calls_to("chat.postMessage")
    message = {"type": "message", "ts": dm.response["ts"], "text": "", "blocks": dm.params["blocks"]}
    for value in (f"{token}:abc", "garbage", f"{token}:" + "9" * 5000, f"{token}:²", ":5", f"{token}:-1"):
        element = {**button(dm.params["blocks"], "5"), "value": value}
        body = block_action(dm.params["channel"], dm.response["channel"], message, element)
        assert signed_post(live.http, SLACK_SIGNING_SECRET, body).status_code == 200
    said = [c.params["text"] for c in fake_slack.wait_for("chat.postEphemeral", 6)]
    for text in said:
        assert "invalid literal" not in text and "Traceback" not in text and "int()" not in text, text
    assert ":warning: Please choose one of the numbers on the buttons." in said
    assert stored(live) == []


@pytest.mark.parametrize(
    "text",
    [
        "trend ²",
        "trend " + "9" * 5000,
        "score 0001-01-01..9999-12-31",
        "comments 0001-01-01..9999-12-31",
        "digest here weekly mon 09:00 by " + "x" * 65,
        "alerts here team=" + "x" * 256,
    ],
    ids=["superscript", "5000-digits", "huge-range", "huge-range-comments", "long-segment", "long-segment-value"],
)
def test_odd_input_answers_with_usage(live: Live, text: str) -> None:
    reply = nps(live, text)["text"]
    assert "Usage" in reply and "something went wrong" not in reply


def test_slack_events_has_a_body_limit(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    live = make_live(env=slack_env(fake_slack), max_body_bytes=2000)
    big = slash_command("score " + "x" * 3000)
    assert signed_post(live.http, SLACK_SIGNING_SECRET, big).status_code == 413
    headers = {"content-type": "application/x-www-form-urlencoded"}
    streamed = live.http.post("/slack/events", content=iter([b"a" * 1500, b"b" * 1500]), headers=headers)
    assert streamed.status_code == 413, "a chunked body without Content-Length is cut off too"
    assert signed_post(live.http, SLACK_SIGNING_SECRET, slash_command("help")).status_code == 200


def test_export_neutralises_formulas(live: Live, fake_slack: FakeSlack) -> None:
    answer(
        live,
        1,
        4,
        '=HYPERLINK("https://evil.example","Click")',
        ticket={"team": "+SUM(1,2)", "tags": ["@cmd"]},
        customer={"name": "-2+3"},
        agent={"id": "7", "name": "\tTab"},
    )
    nps(live, "export 30d")
    fake_slack.wait_for("files.completeUploadExternal")
    (data,) = fake_slack.uploads.values()
    (row,) = list(csv.DictReader(io.StringIO(data.decode())))
    assert row["comment"] == '\'=HYPERLINK("https://evil.example","Click")'
    assert row["team"] == "'+SUM(1,2)" and row["customer_name"] == "'-2+3" and row["tags"] == "'@cmd"
    assert row["agent"] in ("'\tTab", "Tab"), "help desks may trim; a leading tab is neutralised"
    assert row["score"] == "4" and row["answered_at"][0].isdigit()
