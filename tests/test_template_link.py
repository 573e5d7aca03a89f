"""Signed survey links in the help desk's own closing e-mail, against the real app over HTTP.

The LiveAgent snippet comes from `nps-bot template-link`, its `{$…}` variables replaced the way LiveAgent
fills a template (plain text, not URL-encoded); a GET finds or creates the survey and redirects to the hosted
page without recording anything; the page's POST records the answer; anything the admin fixed in the link
(score, connector, kind, language, signature) cannot be edited."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_bot.cli import main
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.store.schema import customers, responses, surveys, webhook_events
from nps_bot.surveys import i18n
from nps_bot.surveys.template_link import NEW_PER_ADDRESS_PER_DAY, ticket_link
from tests.support.app import Live, generic_event

SECRET = "test-secret-key-for-links"


@pytest.fixture
def live(make_live: Callable[..., Live], any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Live:
    app = make_live(database_url=any_db_url, secret_key=SECRET, internal_domains=["acme.example"])
    monkeypatch.setenv("NPS_BOT_SECRET_KEY", SECRET)  # what the admin's `nps-bot template-link` reads
    monkeypatch.setenv("NPS_BOT_PUBLIC_URL", app.url)
    monkeypatch.setenv("NPS_BOT_COMPANY_NAME", "Acme")
    return app


def snippet(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["template-link", *args]) == 0
    return capsys.readouterr().out


def links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', page)]


def as_liveagent_sends(template: str, ticket: str, email: str, name: str = "Rūta Jankauskienė") -> str:
    """LiveAgent replaces each variable with its value as it is, with no URL encoding [I]."""
    return template.replace("{$ticket_id}", ticket).replace("{$contact_email}", email).replace("{$contact_name}", name)


def table(live: Live, t: sa.Table) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(t)))


def nothing_stored(live: Live) -> None:
    assert table(live, surveys) == []
    assert table(live, responses) == []
    assert table(live, webhook_events) == []
    assert table(live, customers) == []


def follow(live: Live, link: str, **headers: str) -> Any:
    """Open a link as a browser or a mail scanner does (a GET); the redirect is the test's to follow."""
    parts = urlsplit(link)
    return live.http.get(f"{parts.path}?{parts.query}", headers=headers, follow_redirects=False)


def chosen_score(page: str) -> tuple[str, str]:
    """The hosted page's own form that posts the score the link chose: (action, score)."""
    form = re.search(r'<form id="answer" method="post" action="([^"]+)">.*?name="score" value="(\d+)"', page, re.S)
    assert form, page
    return form.group(1), form.group(2)


def test_the_cli_prints_one_link_per_score_in_the_vendors_syntax(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    nps = links(snippet(capsys, "liveagent"))
    assert len(nps) == 11
    assert all("{$ticket_id}" in link and "email={$contact_email}" in link for link in nps)
    csat = links(snippet(capsys, "zendesk", "--kind", "csat"))
    assert [re.search(r"score=(\d+)", link).group(1) for link in csat] == ["1", "2", "3", "4", "5"]  # type: ignore[union-attr]
    assert all(link.startswith(f"{live.url}/l/zendesk/{{{{ticket.id}}}}?") for link in csat)
    assert len(links(snippet(capsys, "helpscout", "--kind", "ces"))) == 7
    assert len(set(csat)) == 5, "each score has its own signature"


def test_each_liveagent_link_opens_its_score_and_only_the_page_records_it(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    template = snippet(capsys, "liveagent", "--language", "lt")
    assert i18n.t("lt", "survey.question", company="Acme") in template
    for score, link in enumerate(links(template)):
        # A "+" address, as LiveAgent would write it unencoded: it must still be the customer's own.
        sent = as_liveagent_sends(link, ticket=f"LA-{score}", email=f"ana+{score}@example.com")
        scanned = follow(live, sent)  # a mail scanner opens every link first: nothing is recorded
        assert scanned.status_code == 303
        location = scanned.headers["location"]
        assert re.fullmatch(rf"/s/[\w-]+\?score={score}", location)
        page = live.http.get(location)
        assert page.status_code == 200
        assert 'lang="lt"' in page.text
        action, chosen = chosen_score(page.text)
        assert chosen == str(score)
        assert len(table(live, responses)) == score, "opening the link recorded nothing"
        answered = live.http.post(action, data={"score": chosen})  # the page's own form, as the browser posts it
        assert answered.status_code == 200
    rows = {r.ticket_id: r for r in table(live, surveys)}
    assert set(rows) == {f"LA-{n}" for n in range(11)}
    assert {r.state for r in rows.values()} == {"answered"}
    assert {r.delivery_channel for r in rows.values()} == {"link"}
    assert {r.language for r in rows.values()} == {"lt"}
    by_survey = {r.survey_id: r.score for r in table(live, responses)}
    assert {rows[f"LA-{n}"].id: n for n in range(11)} == by_survey
    emails = {c.email for c in table(live, customers)}
    assert emails == {f"ana+{n}@example.com" for n in range(11)}
    # The reports (read from rollups) count them as sent and answered, as the raw rows do.
    period = parse_period("7d", live.clock.now() + timedelta(days=2))  # today a whole day: read from rollups
    from_rollups, from_rows = (score_report(live.ctx.engine, period, rollups=r) for r in (True, False))
    assert from_rollups.overall.n == from_rows.overall.n == 11
    assert from_rollups.overall.response_rate == from_rows.overall.response_rate
    # ... and a comment can follow.
    token = rows["LA-3"].token
    comment = live.http.post(f"/s/{token}/comment", data={"comment": "Quick, but the invoice was wrong"})
    assert comment.status_code == 200
    assert [r.comment for r in table(live, responses) if r.survey_id == rows["LA-3"].id] == [
        "Quick, but the invoice was wrong"
    ]


def test_opening_links_stores_no_answer_and_a_second_click_finds_the_same_survey(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    template = links(snippet(capsys, "liveagent"))
    first = follow(live, as_liveagent_sends(template[3], "LA-77", "ana@example.com"))
    again = follow(live, as_liveagent_sends(template[9], "LA-77", "ANA@example.com"))
    assert first.status_code == again.status_code == 303
    assert first.headers["location"].split("?")[0] == again.headers["location"].split("?")[0]
    assert again.headers["location"].endswith("?score=9")
    (row,) = table(live, surveys)
    assert (row.state, row.ticket_id, row.kind) == ("sent", "LA-77", "nps")
    assert table(live, responses) == []
    live.http.post(f"/s/{row.token}", data={"score": "9"})
    third = follow(live, as_liveagent_sends(template[10], "LA-77", "ana@example.com"))  # changes the answer
    assert third.headers["location"] == f"/s/{row.token}?score=10"
    live.http.post(f"/s/{row.token}", data={"score": "10"})
    assert [r.score for r in table(live, responses)] == [10]
    assert len(table(live, surveys)) == 1


def _edit(link: str, old: str, new: str) -> str:
    assert old in link
    return link.replace(old, new, 1)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda link: _edit(link, "score=4", "score=10"), id="score"),
        pytest.param(lambda link: _edit(link, "/l/liveagent/", "/l/zendesk/"), id="connector"),
        pytest.param(lambda link: _edit(link, "kind=nps", "kind=csat"), id="kind"),
        pytest.param(lambda link: _edit(link, "lang=lt", "lang=lv"), id="language"),
        pytest.param(lambda link: _edit(link, "&lang=lt", ""), id="language-removed"),
        pytest.param(lambda link: re.sub(r"sig=t\.(\w)", lambda m: "sig=t." + "AB"[m[1] == "A"], link), id="sig"),
        pytest.param(lambda link: re.sub(r"&sig=[^&]+", "", link), id="sig-removed"),
        pytest.param(lambda link: re.sub(r"sig=t\.", "sig=p.", link), id="sig-kind"),
    ],
)
def test_an_edited_fixed_part_is_refused_with_a_translated_page_and_nothing_stored(
    live: Live, capsys: pytest.CaptureFixture[str], edit: Callable[[str], str]
) -> None:
    link = as_liveagent_sends(links(snippet(capsys, "liveagent", "--language", "lt"))[4], "LA-5", "ana@example.com")
    refused = follow(live, edit(link), **{"accept-language": "lt"})
    assert refused.status_code in (403, 404)
    assert i18n.t("lt", "web.not_found") in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    nothing_stored(live)
    assert follow(live, link).status_code == 303, "the unedited link works"


def test_a_template_the_help_desk_did_not_fill_in_is_refused(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    template = links(snippet(capsys, "liveagent"))
    for link in (template[8], template[8].replace("{$ticket_id}", "LA-1"), template[8].replace("{$contact_email}", "")):
        page = follow(live, link, **{"accept-language": "uk"})
        assert page.status_code == 400
        assert i18n.t("uk", "web.not_found") in page.text
    nothing_stored(live)


def test_an_edited_ticket_id_cannot_reach_another_customers_survey(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    template = links(snippet(capsys, "liveagent"))
    assert follow(live, as_liveagent_sends(template[2], "LA-9", "ona@example.com")).status_code == 303
    (before,) = table(live, surveys)
    stolen = follow(live, as_liveagent_sends(template[10], "LA-9", "mallory@example.com"))
    assert stolen.status_code == 404
    assert i18n.t("en", "web.not_found") in stolen.text
    assert before.token not in stolen.text
    assert table(live, surveys) == [before]
    assert {c.email for c in table(live, customers)} == {"ona@example.com"}


def test_a_webhook_survey_not_sent_yet_is_answered_by_the_link_and_never_sent(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    assert live.post_generic(generic_event(1)).status_code == 202  # ticket T-1001, scheduled in an hour
    (scheduled,) = table(live, surveys)
    # A per-ticket signature (a sender that computes HMACs): ticket and address are signed too.
    printed = snippet(capsys, "generic", "--ticket", "T-1001", "--email", "Customer1@example.com", "--text")
    link = dict(line.split("\t") for line in printed.splitlines())["8"]
    opened = follow(live, link)
    assert opened.headers["location"] == f"/s/{scheduled.token}?score=8"
    live.clock.advance(timedelta(hours=2))
    live.worker().run_once()  # the survey is due now, but it is already in the customer's hands
    (row,) = table(live, surveys)
    assert (row.state, row.delivery_channel) == ("sent", "link")
    assert live.http.post(f"/s/{row.token}", data={"score": "8"}).status_code == 200
    other = ticket_link(live.url, SECRET, "generic", "T-1001", "someone@example.com", 8)
    assert follow(live, other.replace("someone@", "customer1@")).status_code == 403, "a per-ticket link is whole"


def test_throttling_does_not_block_a_customer_who_answers_but_exclusions_do(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    assert live.post_generic(generic_event(1)).status_code == 202  # customer1 was surveyed today
    template = links(snippet(capsys, "liveagent"))
    throttled_customer = follow(live, as_liveagent_sends(template[6], "LA-1", "customer1@example.com"))
    assert throttled_customer.status_code == 303
    colleague = follow(live, as_liveagent_sends(template[6], "LA-2", "ona@acme.example"))
    assert colleague.status_code == 409
    assert i18n.t("en", "web.expired") in colleague.text
    assert sorted(r.ticket_id for r in table(live, surveys)) == ["LA-1", "T-1001"]


def test_new_link_surveys_per_address_are_capped(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    template = links(snippet(capsys, "liveagent"))
    for n in range(NEW_PER_ADDRESS_PER_DAY):
        assert follow(live, as_liveagent_sends(template[0], f"FAKE-{n}", "mallory@example.com")).status_code == 303
    refused = follow(live, as_liveagent_sends(template[0], "FAKE-x", "mallory@example.com"))
    assert refused.status_code == 429
    assert follow(live, as_liveagent_sends(template[0], "FAKE-0", "mallory@example.com")).status_code == 303
    assert len(table(live, surveys)) == NEW_PER_ADDRESS_PER_DAY
    live.clock.advance(timedelta(days=1, minutes=1))
    assert follow(live, as_liveagent_sends(template[0], "FAKE-x", "mallory@example.com")).status_code == 303


filled_in = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["\x00", "a\x00@b.c", "{$contact_email}", "x" * 400, "a@b", "ä@ö.ü", "%00", "../..", " "]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticket=filled_in, email=filled_in, name=filled_in)
def test_whatever_the_help_desk_fills_in_the_answer_is_never_a_5xx(
    live: Live, capsys: pytest.CaptureFixture[str], ticket: str, email: str, name: str
) -> None:
    """The per-template signature does not cover these values, so they reach the database as they come."""
    template = links(snippet(capsys, "liveagent"))[7]
    link = template.replace("{$ticket_id}", quote(ticket, safe="")).replace("{$contact_email}", quote(email))
    answer = follow(live, link.replace("{$contact_name}", quote(name)))
    assert answer.status_code < 500, answer.text
    if answer.status_code == 303:
        page = live.http.get(answer.headers["location"])
        assert page.status_code == 200


@pytest.mark.parametrize("vendor", ["liveagent", "zendesk", "freshdesk", "helpscout"])
def test_the_manifests_show_what_the_cli_prints(
    vendor: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPS_BOT_SECRET_KEY", "example-key-do-not-use")  # the example key the manifests name
    monkeypatch.setenv("NPS_BOT_PUBLIC_URL", "https://nps.acme.example")
    monkeypatch.setenv("NPS_BOT_COMPANY_NAME", "Acme")
    manifest = (Path(__file__).resolve().parents[1] / "manifests" / vendor / "template-link.md").read_text()
    assert snippet(capsys, vendor) in manifest
