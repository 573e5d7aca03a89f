"""The hosted survey page against the real app: a GET never records (mail scanners open every link),
the page's own form POSTs the chosen score, and bad input gets translated 400/404/409 pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import responses, surveys
from nps_bot.surveys import i18n
from tests.support.app import Live, generic_event


def sent_survey(live: Live, n: int = 1, **overrides: Any) -> Any:
    assert live.post_generic(generic_event(n, **overrides)).status_code == 202
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    with live.ctx.engine.connect() as conn:
        return conn.execute(sa.select(surveys).where(surveys.c.ticket_id == f"T-{1000 + n}")).one()


def stored(live: Live) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(responses)))


def confirm_form(page: str) -> tuple[str, dict[str, str]]:
    """The form a one-click page posts by itself: its action and fields."""
    form = re.search(r'<form id="answer" method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form, page
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))
    return form.group(1), fields


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live()


def test_a_scanner_opening_every_link_records_nothing(live: Live) -> None:
    row = sent_survey(live)
    for score in range(11):  # what a mail security scanner does with the e-mail's links
        page = live.http.get(f"/s/{row.token}", params={"score": score})
        assert page.status_code == 200
        assert confirm_form(page.text) == (f"/s/{row.token}", {"score": str(score)})
        assert '<script>document.getElementById("answer").submit()</script>' in page.text
        assert re.search(rf'<button name="score" value="{score}" aria-pressed="true"[ >]', page.text), "pre-selected"
        assert page.text.count('aria-pressed="true"') == 1
        assert not re.search(r"(src|href)=|<link", page.text), "no external resources"
        assert page.headers["cache-control"] == "no-store"
    assert stored(live) == []
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(surveys.c.state)).scalar_one() == "sent"


def test_the_page_form_posts_the_chosen_score(live: Live) -> None:
    row = sent_survey(live)
    page = live.http.get(f"/s/{row.token}", params={"score": 6})
    label = i18n.t("lt", "web.confirm_score", score=6)
    assert f'<button class="send">{label}</button>' in page.text, "a visible button without scripts"
    action, fields = confirm_form(page.text)
    answered = live.http.post(action, data=fields)
    assert answered.status_code == 200
    assert i18n.t("lt", "followup.detractor") in answered.text
    ((score, source),) = [(r.score, r.source) for r in stored(live)]
    assert (score, source) == (6, "web")
    again = live.http.post(action, data={"score": "10"})  # another click changes the score
    assert i18n.t("lt", "followup.promoter") in again.text
    assert [r.score for r in stored(live)] == [10]


@pytest.mark.parametrize("raw", ["11", "-1", "abc", "", "9.5", "١"])
def test_a_score_off_the_scale_is_a_translated_400(live: Live, raw: str) -> None:
    row = sent_survey(live)
    message = i18n.t("lt", "web.bad_score", low=0, high=10)
    by_link = live.http.get(f"/s/{row.token}", params={"score": raw})
    by_form = live.http.post(f"/s/{row.token}", data={"score": raw})
    for page in (by_link, by_form):
        assert page.status_code == 400
        assert message in page.text
    assert stored(live) == []


def test_csat_scale_is_one_to_five(live: Live) -> None:
    row = sent_survey(live, survey="csat")
    assert live.http.get(f"/s/{row.token}", params={"score": 0}).status_code == 400
    assert live.http.get(f"/s/{row.token}", params={"score": 6}).status_code == 400
    assert i18n.t("lt", "web.bad_score", low=1, high=5) in live.http.post(f"/s/{row.token}", data={"score": 0}).text
    assert live.http.post(f"/s/{row.token}", data={"score": 5}).status_code == 200
    assert [r.score for r in stored(live)] == [5]


def test_unknown_survey_is_a_404_in_the_visitors_language(live: Live) -> None:
    page = live.http.get("/s/not-a-token", headers={"accept-language": "uk-UA,uk;q=0.9,en;q=0.5"})
    assert page.status_code == 404
    assert i18n.t("uk", "web.not_found") in page.text
    assert live.http.post("/s/not-a-token", data={"score": "3"}).status_code == 404
    assert live.http.post("/s/not-a-token/comment", data={"comment": "x"}).status_code == 404


def test_comment_before_a_score_is_a_translated_409(live: Live) -> None:
    row = sent_survey(live)
    page = live.http.post(f"/s/{row.token}/comment", data={"comment": "hello"})
    assert page.status_code == 409
    assert i18n.t("lt", "web.choose_score_first") in page.text


def test_a_survey_not_open_for_answers_is_a_translated_409(live: Live) -> None:
    assert live.post_generic(generic_event(1)).status_code == 202  # scheduled, not sent yet
    with live.ctx.engine.connect() as conn:
        token = conn.execute(sa.select(surveys.c.token)).scalar_one()
    page = live.http.post(f"/s/{token}", data={"score": "8"})
    assert page.status_code == 409
    assert i18n.t("lt", "web.expired") in page.text
    assert stored(live) == []
