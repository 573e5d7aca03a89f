"""The `email` delivery channel against a real SMTP server (aiosmtpd, started here) and the real app:
the message as received (both parts, headers, List-Unsubscribe), its links followed, the answer
recorded by POST, the unsubscribe link honoured; SMTP failures in the worker's vocabulary."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.email import EmailIntegration, create
from integrations.email.channel import server_reply
from integrations.email.settings import EmailSettings, smtp_server
from nps_bot.logs import redact
from nps_bot.store.schema import responses, surveys, unsubscribes
from nps_bot.surveys import i18n
from nps_bot.surveys import unsubscribe as unsub
from tests.db_helpers import rows
from tests.support.app import Live, generic_event
from tests.support.processes import free_port
from tests.support.smtp import Mailbox

SECRET = "test-secret-key-for-unsubscribe-links"
FROM = "Acme Support <support@acme.example>"
# Plain-text AUTH is what the local test server is for.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def email_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "NPS_BOT_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=false",
        "NPS_BOT_EMAIL_FROM": FROM,
        "NPS_BOT_EMAIL_REPLY_TO": "help@acme.example",
        "NPS_BOT_SECRET_KEY": SECRET,
        **extra,
    }


@pytest.fixture
def live(make_live: Callable[..., Live], smtp: tuple[Mailbox, int]) -> Live:
    return make_live(env=email_env(smtp[1]), delivery=["email"])


def survey(live: Live, n: int) -> Any:
    with live.ctx.engine.connect() as conn:
        return conn.execute(sa.select(surveys).where(surveys.c.ticket_id == f"T-{1000 + n}")).one()


def send(live: Live, n: int = 1, **overrides: Any) -> Any:
    r = live.post_generic(generic_event(n, **overrides))
    assert live.outcome(r)["status"] == "scheduled", r.json()
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    return survey(live, n)


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body((kind,))
    assert part is not None, f"no text/{kind} part"
    return str(part.get_content())


def test_survey_email_end_to_end(live: Live, smtp: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture) -> None:
    box, _ = smtp
    caplog.set_level(logging.DEBUG)
    name = "<b>Rūta</b> Jankauskienė"
    row = send(live, 1, customer={"name": name})
    assert (row.state, row.delivery_channel) == ("sent", "email")

    # -- what arrived ---------------------------------------------------------------------------
    ((mail_from, rcpt_tos, _),) = box.received
    assert (mail_from, rcpt_tos) == ("support@acme.example", ["customer1@example.com"])
    (msg,) = box.messages()
    assert msg["From"].addresses[0].addr_spec == "support@acme.example"
    assert msg["From"].addresses[0].display_name == "Acme Support"
    assert msg["To"].addresses[0].addr_spec == "customer1@example.com"
    assert msg["To"].addresses[0].display_name == name
    assert msg["Reply-To"].addresses[0].addr_spec == "help@acme.example"
    assert msg["Subject"] == i18n.t("lt", "email.subject", company="Acme")
    assert parsedate_to_datetime(msg["Date"]) == live.clock.now()
    assert re.fullmatch(rf"<nps-survey\.{row.id}\.[0-9a-f]{{24}}@acme\.example>", msg["Message-ID"])
    assert row.token not in msg["Message-ID"]
    assert row.delivery_ref == msg["Message-ID"]
    assert msg["Content-Language"] == "lt"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (unsubscribe_link,) = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert unsubscribe_link.startswith(f"{live.url}/unsubscribe/") and unsubscribe_link.endswith("?lang=lt")
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"

    links = [f"{live.url}/s/{row.token}?score={n}" for n in range(11)]
    text = body(msg, "plain")
    assert i18n.t("lt", "survey.question", company="Acme") in text
    assert i18n.t("lt", "survey.greeting", name="<b>Rūta</b>", company="Acme") in text
    assert all(f"{n}: {link}" in text for n, link in enumerate(links))
    assert f"{i18n.t('lt', 'email.unsubscribe')}: {unsubscribe_link}" in text
    page = body(msg, "html")
    assert "<b>Rūta</b>" not in page and "&lt;b&gt;Rūta&lt;/b&gt;" in page, "customer text is escaped"
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', page)]
    assert hrefs == [*links, unsubscribe_link]
    assert not re.search(r"<img|<script|<link|src=", page)

    # -- a mail scanner opens every link: nothing is recorded ------------------------------------
    for href in hrefs:
        assert live.http.get(href).status_code == 200
    assert rows(live, responses) == [] and rows(live, unsubscribes) == []

    # -- the customer clicks 9: the page posts it ------------------------------------------------
    landing = live.http.get(links[9])
    action = re.search(r'<form id="answer" method="post" action="([^"]+)">', landing.text).group(1)  # type: ignore[union-attr]
    answered = live.http.post(action, data={"score": "9"})
    assert i18n.t("lt", "followup.promoter") in answered.text
    ((score, source),) = [(r.score, r.source) for r in rows(live, responses)]
    assert (score, source) == (9, "web")
    assert live.http.post(f"/s/{row.token}/comment", data={"comment": "Greičiau"}).status_code == 200

    # -- unsubscribe: the page asks, the mail client's one-click POST records -------------------
    ask = live.http.get(unsubscribe_link)
    assert ask.status_code == 200
    assert i18n.t("lt", "web.unsubscribe_question", company="Acme") in ask.text
    assert rows(live, unsubscribes) == []
    done = live.http.post(
        unsubscribe_link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert i18n.t("lt", "web.unsubscribed", company="Acme") in done.text
    ((address, how),) = [(r.email, r.source) for r in rows(live, unsubscribes)]
    assert (address, how) == ("customer1@example.com", "one-click")
    assert live.http.post(unsubscribe_link).status_code == 200, "idempotent"
    assert len(rows(live, unsubscribes)) == 1

    # -- the next survey for that address is suppressed -----------------------------------------
    live.clock.advance(timedelta(days=90))  # long past throttling
    again = live.post_generic(generic_event(2, customer={"email": "Customer1@Example.com"}))
    assert live.outcome(again) == {"status": "suppressed", "survey_id": 2, "reason": "unsubscribed"}
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    assert len(box.received) == 1

    # -- never the address or the token in our logs ---------------------------------------------
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("nps_bot", "integrations"))]
    assert ours, "the flow logs something"
    assert not [m for m in ours if "customer1@example.com" in m.lower() or row.token in m]


def test_unsubscribed_after_scheduling_is_suppressed_at_delivery(live: Live, smtp: tuple[Mailbox, int]) -> None:
    box, _ = smtp
    live.post_generic(generic_event(1))
    link = unsub.unsubscribe_url(live.url, SECRET, "customer1@example.com")
    assert live.http.post(link).status_code == 200  # the confirm page's button
    assert [r.source for r in rows(live, unsubscribes)] == ["page"]
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    row = survey(live, 1)
    assert (row.state, row.reason, row.sent_at) == ("suppressed", "unsubscribed", None)
    assert box.received == []


def test_forged_or_damaged_unsubscribe_links_do_nothing(live: Live) -> None:
    good = unsub.sign(SECRET, "customer1@example.com")
    other = unsub.sign(SECRET, "someone@example.com")
    forged = [
        unsub.sign("another-secret", "customer1@example.com"),
        good.split(".")[0] + "." + other.split(".")[1],
        good[:-2],
        "not-a-token",
        "a.b.c",
    ]
    for token in forged:
        page = live.http.post(f"/unsubscribe/{token}?lang=hu")
        assert page.status_code == 404
        assert i18n.t("hu", "web.unsubscribe_invalid") in page.text
    assert rows(live, unsubscribes) == []


def test_customer_without_email_falls_through_to_the_next_channel(
    make_live: Callable[..., Live], smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    live = make_live(env=email_env(port), delivery=["email", "console"])
    row = send(live, 1, customer={"email": None})
    assert (row.state, row.delivery_channel) == ("sent", "console")
    alone = make_live(env=email_env(port), delivery=["email"])
    row = send(alone, 2, customer={"email": None})
    assert (row.state, row.reason) == ("undeliverable", "email: customer has no e-mail address")
    assert box.received == []


def test_recipient_refused_for_good_is_undeliverable_without_the_address(live: Live, smtp: tuple[Mailbox, int]) -> None:
    box, _ = smtp
    box.refuse["customer1@"] = "550 5.1.1 <customer1@example.com>: Recipient address rejected: User unknown"
    row = send(live, 1)
    assert row.state == "undeliverable"
    assert row.reason.startswith("email: recipient refused (550 5.1.1 <address>: Recipient address rejected")
    assert "customer1" not in row.reason
    assert box.received == []


def test_temporary_refusal_is_retried_later(live: Live, smtp: tuple[Mailbox, int]) -> None:
    box, _ = smtp
    box.refuse["customer1@"] = "451 4.7.1 <customer1@example.com>: greylisted, try again later"
    row = send(live, 1)
    assert (row.state, row.attempts) == ("scheduled", 1)
    assert row.due_at > live.clock.now()
    assert "recipient deferred (451" in row.last_error and "customer1" not in row.last_error
    del box.refuse["customer1@"]
    live.clock.advance(timedelta(hours=2))
    live.worker().run_once()
    assert survey(live, 1).state == "sent"
    assert len(box.received) == 1


def test_server_down_is_retried(make_live: Callable[..., Live]) -> None:
    live = make_live(env=email_env(free_port()), delivery=["email"])
    row = send(live, 1)
    assert row.state == "scheduled"
    assert row.last_error == "email: smtp unreachable: ConnectionRefusedError"


def test_starttls_asked_for_but_not_offered_sends_nothing(
    make_live: Callable[..., Live], smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    live = make_live(env=email_env(port, NPS_BOT_SMTP_URL=f"smtp://127.0.0.1:{port}"), delivery=["email"])
    row = send(live, 1)
    assert row.state == "scheduled"
    assert "STARTTLS" in row.last_error
    assert box.received == []


def test_credentials_from_the_url_are_used(make_live: Callable[..., Live], smtp_auth: tuple[Mailbox, int]) -> None:
    box, port = smtp_auth
    url = f"smtp://us%40er:p%40ss%3Aw%2Frd@127.0.0.1:{port}?starttls=false"
    live = make_live(env=email_env(port, NPS_BOT_SMTP_URL=url), delivery=["email"])
    assert send(live, 1).state == "sent"
    assert box.logins == [("us@er", "p@ss:w/rd")]
    assert len(box.received) == 1


def test_separate_settings_work_like_the_url(make_live: Callable[..., Live], smtp_auth: tuple[Mailbox, int]) -> None:
    box, port = smtp_auth
    env = email_env(
        port,
        NPS_BOT_SMTP_URL="",
        NPS_BOT_SMTP_HOST="127.0.0.1",
        NPS_BOT_SMTP_PORT=str(port),
        NPS_BOT_SMTP_USER="us@er",
        NPS_BOT_SMTP_PASSWORD="wrong",
        NPS_BOT_SMTP_STARTTLS="false",
    )
    live = make_live(env=env, delivery=["email"])
    row = send(live, 1)
    assert (row.state, row.last_error) == ("scheduled", "email: smtp: authentication failed (535)")
    assert box.received == []


def test_csat_email_links_cover_its_scale(live: Live, smtp: tuple[Mailbox, int]) -> None:
    box, _ = smtp
    row = send(live, 1, survey="csat", customer={"language": "hu"})
    (msg,) = box.messages()
    assert msg["Subject"] == i18n.t("hu", "email.subject", company="Acme")
    text = body(msg, "plain")
    assert i18n.t("hu", "csat.question") in text
    assert re.findall(r"\?score=(\d+)", text) == ["1", "2", "3", "4", "5"]
    assert f"/s/{row.token}?score=5" in body(msg, "html")


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_every_language_builds_a_message(live: Live, smtp: tuple[Mailbox, int], lang: str) -> None:
    box, _ = smtp
    send(live, 1, customer={"language": lang})
    (msg,) = box.messages()
    assert msg["Subject"] == i18n.t(lang, "email.subject", company="Acme")
    assert i18n.t(lang, "email.why", company="Acme") in body(msg, "plain")
    assert msg["List-Unsubscribe"].endswith(f"?lang={lang}>")


# -- set-up ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://user:pass@mail.example.com:587", ("mail.example.com", 587, "starttls", "user", "pass")),
        ("smtp://mail.example.com", ("mail.example.com", 587, "starttls", "", "")),
        ("smtp://relay:25?starttls=false", ("relay", 25, "none", "", "")),
        ("smtps://u%40x:p%2F1@mail.example.com", ("mail.example.com", 465, "ssl", "u@x", "p/1")),
        ("smtps://mail.example.com:2465", ("mail.example.com", 2465, "ssl", "", "")),
    ],
)
def test_smtp_url(url: str, expected: tuple[object, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_BOT_SMTP_URL", url)
    server = smtp_server(EmailSettings())
    assert (server.host, server.port, server.security, server.user, server.password) == expected
    assert "pass" not in repr(server) or not server.password


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://h?starttls=maybe", "smtp://h:99999"])
def test_bad_smtp_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_BOT_SMTP_URL", url)
    with pytest.raises(ValueError, match="NPS_BOT_SMTP_URL"):
        smtp_server(EmailSettings())


def test_separate_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_BOT_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("NPS_BOT_SMTP_SSL", "true")
    assert (smtp_server(EmailSettings()).port, smtp_server(EmailSettings()).security) == (465, "ssl")


def test_not_configured_is_silent_and_offers_no_channel(
    make_live: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    live = make_live()
    plugin = live.ctx.integrations["email"]
    assert isinstance(plugin, EmailIntegration)
    assert plugin.delivery_channels() == []
    assert "e-mail" not in caplog.text


@pytest.mark.parametrize(
    ("drop", "complaint"),
    [("NPS_BOT_SECRET_KEY", "NPS_BOT_SECRET_KEY"), ("NPS_BOT_EMAIL_FROM", "NPS_BOT_EMAIL_FROM")],
)
def test_incomplete_setup_is_reported_and_the_channel_is_missing(
    make_live: Callable[..., Live],
    smtp: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    drop: str,
    complaint: str,
) -> None:
    env = email_env(smtp[1])
    del env[drop]
    live = make_live(env=env, delivery=["email"])
    assert create(live.ctx).delivery_channels() == []
    assert f"e-mail delivery is off: set {complaint}" in caplog.text
    assert live.ctx.delivery_channels() == []


def test_unsubscribe_tokens() -> None:
    token = unsub.sign(SECRET, " Ana@Example.COM ")
    assert unsub.verify([SECRET], token) == "ana@example.com"
    assert "ana@example.com" not in token
    assert unsub.verify(["other"], token) is None
    assert unsub.verify([""], token) is None
    with pytest.raises(ValueError, match="NPS_BOT_SECRET_KEY"):
        unsub.sign("", "ana@example.com")


def test_logs_mask_unsubscribe_links_and_smtp_replies_mask_addresses() -> None:
    line = f'127.0.0.1:1 - "GET /unsubscribe/{unsub.sign(SECRET, "ana@example.com")}?lang=lt HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:1 - "GET /unsubscribe/***?lang=lt HTTP/1.1" 200'
    assert server_reply(550, b"5.1.1 <ana@example.com>... User\r\n unknown") == "550 5.1.1 <address>... User unknown"
