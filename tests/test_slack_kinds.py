"""CSAT and CES next to NPS in every Slack surface, counts in the right number, and the smaller
defects of issue "Numbers people can trust": signed Slack requests against the real app and the fake
Slack Web API."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from integrations.slack.services.digests import DigestJob
from nps_bot.followups import subscriptions
from nps_bot.surveys import i18n
from tests.fakes.slack import Call, FakeSlack
from tests.support.answers import answer, send
from tests.support.app import SLACK_SIGNING_SECRET, Live
from tests.support.slack import admin_in_channel
from tests.support.slack_requests import home_opened, signed_post, slash_command

ADMIN = "U0ADMIN"
ALERTS = "C0PUBLIC"


@pytest.fixture
def live(make_live: Callable[..., Live], fake_slack: FakeSlack) -> Live:
    return admin_in_channel(make_live, fake_slack, ADMIN, ALERTS)


def nps(live: Live, text: str, user: str = ADMIN, channel: str = ALERTS) -> dict[str, Any]:
    response_url = live.ctx.integrations["slack"].settings.api_url + "response_url"  # type: ignore[attr-defined]
    body = slash_command(text, user_id=user, channel=channel, response_url=response_url)
    r = signed_post(live.http, SLACK_SIGNING_SECRET, body)
    assert r.status_code == 200
    return dict(r.json())


def everything(reply: dict[str, Any]) -> str:
    return json.dumps(reply, ensure_ascii=False)


def posts_to(fake: FakeSlack, channel: str, count: int = 1, timeout: float = 5) -> list[Call]:
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == channel and c.ok]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def seed_kinds(live: Live) -> None:
    answer(live, 1, 5, "Great help", survey="csat")
    answer(live, 2, 2, "Slow.\nSecond line: nobody called back", survey="csat", ticket={"team": "Tech"})
    answer(live, 3, 6, survey="ces")


def test_score_trend_and_comments_for_csat_and_ces(live: Live) -> None:
    seed_kinds(live)
    reply = nps(live, "score csat 30d by team")
    text = everything(reply)
    assert "CSAT last 30 days: 50 %" in reply["text"] and "2 answers" in reply["text"]
    assert "(±40.5 at 95 %)" in reply["text"], "CSAT comes with its (Wilson) margin"
    assert "Billing" in text and "Tech" in text and "CSAT" in text
    assert "Satisfied (4-5) 50 % of 2" in text

    ces = nps(live, "score ces")
    assert "CES last 30 days: 6.0" in ces["text"] and "1 answer," in ces["text"] and "1 answers" not in ces["text"]
    assert "NPS last 30 days: no answers yet" in nps(live, "score")["text"], "NPS stays NPS"

    trend = everything(nps(live, "trend csat 4"))
    assert "Weekly CSAT, last 4 weeks" in trend and "50 %" in trend

    comments = nps(live, "comments csat")
    assert comments["text"].startswith("2 CSAT comments")
    quoted = " ".join(b["text"]["text"] for b in comments["blocks"])
    assert "*2/5*" in quoted and "*5/5*" in quoted
    assert "> Slow.\n> Second line: nobody called back" in quoted, "every line of a comment is quoted"
    assert "No CES comments" in nps(live, "comments ces")["text"]


def test_help_lists_the_csat_and_ces_forms(live: Live) -> None:
    text = nps(live, "help")["text"]
    for form in (
        "/nps score csat 30d by team",
        "/nps score ces",
        "/nps trend csat",
        "/nps comments csat",
        "csat&lt;=N",
    ):
        assert form in text
    assert "<customer attribute>" not in text and "&lt;customer attribute&gt;" in text


def test_csat_alert_rule_alerts_on_csat_answers_only(live: Live, fake_slack: FakeSlack) -> None:
    reply = nps(live, "alerts here csat<=2")["text"]
    assert reply == "Done: CSAT answers scoring 2 or less are posted here as they arrive."
    (sub,) = subscriptions.list_for(live.ctx.engine, kind="alert")
    assert (sub.survey_kind, sub.max_score) == ("csat", 2)
    assert "Usage" in nps(live, "alerts here csat<=6")["text"], "CSAT runs from 1 to 5"
    assert "Usage" in nps(live, "alerts here ces<=0")["text"]

    answer(live, 1, 1, survey="nps")  # an NPS detractor: not this rule's business
    answer(live, 2, 3, survey="csat")  # above the rule
    answer(live, 3, 2, "Rude", survey="csat")
    (post,) = posts_to(fake_slack, ALERTS)
    blocks = everything(post.params["blocks"])
    assert "*2/5 — CSAT answer*" in blocks
    (update,) = fake_slack.wait_for("chat.update", timeout=5)
    assert "Rude" in everything(update.params["blocks"]), "the comment updates the same alert"
    assert post.params["text"].startswith("2/5 (CSAT answer)")
    time.sleep(0.2)
    assert len(posts_to(fake_slack, ALERTS, timeout=0)) == 1

    nps(live, "alerts here ces")  # the default rule: the unhappy band (1-4 of 7)
    (sub,) = subscriptions.list_for(live.ctx.engine, kind="alert")
    assert (sub.survey_kind, sub.max_score) == ("ces", 4)


@pytest.mark.parametrize(
    ("kind", "lang", "low", "high"),
    [("csat", "lt", "csat.scale_low", "csat.scale_high"), ("ces", "en", "ces.scale_low", "ces.scale_high")],
)
def test_survey_dm_text_and_legend_match_the_kind(
    live: Live, fake_slack: FakeSlack, kind: str, lang: str, low: str, high: str
) -> None:
    token = send(live, 1, survey=kind, customer={"language": lang})
    (dm,) = fake_slack.calls_to("chat.postMessage")
    assert dm.params["text"] == i18n.t(lang, f"{kind}.fallback_text", company="Acme")
    assert "0 to 10" not in dm.params["text"] and "0 iki 10" not in dm.params["text"]
    legend = everything(dm.params["blocks"])
    assert i18n.t(lang, low) in legend and i18n.t(lang, high) in legend
    page = live.http.get(f"/s/{token}").text
    assert i18n.t(lang, low) in page and i18n.t(lang, high) in page, "the hosted page says it too"


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_scale_ends_are_translated(lang: str) -> None:
    for key in ("csat.scale_low", "csat.scale_high", "ces.scale_low", "ces.scale_high", "csat.fallback_text"):
        assert key in i18n.catalog(lang)
        if lang != "en":
            assert i18n.catalog(lang)[key] != i18n.catalog("en")[key], f"{key} is really translated into {lang}"


def test_digest_adds_csat_and_ces_lines_when_answered(live: Live, fake_slack: FakeSlack) -> None:
    answer(live, 1, 9)
    seed_kinds_start = 2
    answer(live, seed_kinds_start, 4, survey="csat")
    sub = subscriptions.save(
        live.ctx.engine,
        kind="digest",
        platform="slack",
        channel_id="C0DIGEST",
        created_by=ADMIN,
        now=live.clock.now() - timedelta(days=3),
        cron="0 * * * *",
        timezone="UTC",
        period_days=1,
    )
    job = DigestJob(live.ctx, live.ctx.integrations["slack"].client)  # type: ignore[attr-defined]
    assert job.run_due(live.clock.now()) == 1
    (post,) = posts_to(fake_slack, sub.channel_id)
    text = everything(post.params["blocks"])
    assert "NPS digest: last 24 hours" in text
    assert "CSAT last 24 hours: 100 %" in text and "1 answer" in text
    assert "CES" not in text, "no CES line without CES answers"
    assert "1 answers" not in text and "last 1 days" not in text
    listed = nps(live, "digest list")["text"]
    assert "last 1 day" in listed and "last 1 days" not in listed


def test_home_covers_the_kinds_and_drops_alerts_no_longer_needed(live: Live, fake_slack: FakeSlack) -> None:
    nps(live, "alerts here")
    token = answer(live, 1, 3)
    posts_to(fake_slack, ALERTS)
    answer(live, 2, 5, survey="csat")

    def home() -> str:
        fake_slack.clear_recording()
        r = signed_post(live.http, SLACK_SIGNING_SECRET, home_opened(ADMIN), content_type="application/json")
        assert r.status_code == 200
        (publish,) = fake_slack.wait_for("views.publish")
        return everything(publish.params["view"])

    shown = home()
    assert "NPS last 30 days: -100" in shown and "CSAT last 30 days: 100 %" in shown
    assert "*3/10* · Rūta Jankauskienė" in shown
    assert live.http.post(f"/s/{token}", data={"score": 9}).status_code == 200  # raised above the rule
    shown = home()
    assert "*9/10*" not in shown and "*3/10*" not in shown, "a withdrawn alert leaves Home"
    assert "Nothing waiting" in shown


def test_export_counts_answers_not_lines(live: Live, fake_slack: FakeSlack) -> None:
    answer(live, 1, 4, "first line\nsecond line\nthird line")
    assert nps(live, "export 30d")["text"] == "Working on it…"
    (notice,) = fake_slack.wait_for("response_url")
    assert "(1 answer)" in notice.params["text"]
    fake_slack.wait_for("files.completeUploadExternal")
    (data,) = fake_slack.uploads.values()
    (row,) = list(csv.DictReader(io.StringIO(data.decode())))
    assert row["comment"] == "first line\nsecond line\nthird line"


def test_export_covers_every_kind(live: Live, fake_slack: FakeSlack) -> None:
    seed_kinds(live)
    nps(live, "export 30d")
    fake_slack.wait_for("files.completeUploadExternal")
    (data,) = fake_slack.uploads.values()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert sorted((r["kind"], r["score"], r["group"]) for r in rows) == [
        ("ces", "6", "promoter"), ("csat", "2", "detractor"), ("csat", "5", "promoter"),
    ]  # fmt: skip
