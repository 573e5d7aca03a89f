"""App Home: a signed app_home_opened event publishes 30-day NPS, the trend and open follow-ups."""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa

from integrations.slack.services.alerts import AlertListener
from nps_bot.followups import subscriptions
from nps_bot.store.schema import surveys
from tests.fakes.slack import FakeSlack
from tests.support.app import SLACK_SIGNING_SECRET, Live, generic_event
from tests.support.slack import deliver, slack_env
from tests.support.slack_requests import home_opened, signed_post


def _with_an_answered_alert(make_live: Callable[..., Live], fake_slack: FakeSlack, **env: str) -> Live:
    """A detractor answer with an open alert, so App Home has a customer name to show (or hide)."""
    live = make_live(env=slack_env(fake_slack) | env)
    subscriptions.save(
        live.ctx.engine, kind="alert", platform="slack", channel_id="C0ALERTS", created_by=None, now=live.clock.now()
    )
    live.post_generic(generic_event(1))
    deliver(live, fake_slack)
    with live.ctx.engine.connect() as conn:
        token = conn.execute(sa.select(surveys.c.token)).scalar_one()
    slack = live.ctx.integrations["slack"]
    AlertListener(live.ctx, slack.client).on_answer(  # type: ignore[attr-defined]
        live.ctx.surveys.record_score(token, 3, source="slack")
    )
    return live


def _home_of(live: Live, fake_slack: FakeSlack, user: str) -> str:
    r = signed_post(live.http, SLACK_SIGNING_SECRET, home_opened(user), content_type="application/json")
    assert r.status_code == 200
    (publish,) = fake_slack.wait_for("views.publish")
    assert publish.params["user_id"] == user
    return json.dumps(publish.params["view"], ensure_ascii=False)


def test_home_shows_nps_trend_and_open_follow_ups(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0LEAD001", "lead@acme.example", is_admin=True)
    live = _with_an_answered_alert(make_live, fake_slack)

    r = signed_post(live.http, SLACK_SIGNING_SECRET, home_opened("U0LEAD001"), content_type="application/json")
    assert r.status_code == 200
    (publish,) = fake_slack.wait_for("views.publish")
    assert publish.params["user_id"] == "U0LEAD001"
    view = publish.params["view"]
    assert view["type"] == "home"
    text = json.dumps(view, ensure_ascii=False)
    assert "NPS last 30 days: -100" in text and "1 answer," in text and "1 answers" not in text
    assert "Open follow-ups" in text and "*3/10* · Rūta Jankauskienė · <#C0ALERTS>" in text
    assert "nobody has claimed it yet" in text
    assert "NPS by week (last 8 weeks)" in text and "n=1" in text


def test_names_and_follow_ups_are_for_admins_only(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0AGENT01", "agent@acme.example")  # a member, not an admin
    live = _with_an_answered_alert(make_live, fake_slack)
    text = _home_of(live, fake_slack, "U0AGENT01")
    assert "NPS last 30 days: -100" in text  # the scores, for everyone
    assert "Rūta" not in text and "Open follow-ups" not in text and "3/10" not in text
    assert "shown to admins" in text


def test_admins_listed_in_settings_see_names(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0AGENT01", "agent@acme.example")
    live = _with_an_answered_alert(make_live, fake_slack, NPS_BOT_ADMINS="U0AGENT01")
    assert "*3/10* · Rūta Jankauskienė" in _home_of(live, fake_slack, "U0AGENT01")


def test_everyone_sees_names_when_the_setting_says_so(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0AGENT01", "agent@acme.example")
    live = _with_an_answered_alert(make_live, fake_slack, NPS_BOT_SLACK_HOME_PEOPLE="everyone")
    text = _home_of(live, fake_slack, "U0AGENT01")
    assert "*3/10* · Rūta Jankauskienė" in text and "shown to admins" not in text


def test_home_with_no_answers(make_live: Callable[..., Live], fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0LEAD001", "lead@acme.example", is_admin=True)
    live = make_live(env=slack_env(fake_slack))
    r = signed_post(live.http, SLACK_SIGNING_SECRET, home_opened("U0LEAD001"), content_type="application/json")
    assert r.status_code == 200
    (publish,) = fake_slack.wait_for("views.publish")
    text = json.dumps(publish.params["view"])
    assert "no answers yet" in text and "Nothing waiting" in text
