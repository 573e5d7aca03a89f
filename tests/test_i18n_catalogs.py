"""Every survey catalog against the English one: no message missing, empty or fuzzy, the same placeholders
and no new markup, a file Babel compiles to .mo and GNU msgfmt accepts, plural forms that agree with CLDR.
Then a "de-DE" customer end to end: Zendesk webhook → Slack DM, hosted page and e-mail, all in German."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import timedelta
from gettext import GNUTranslations
from importlib.resources import files
from io import BytesIO
from string import Formatter

import pytest
import respx
import sqlalchemy as sa
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from nps_bot.plugin.payloads import language_code
from nps_bot.store.schema import surveys
from nps_bot.surveys import i18n
from tests.conftest import Live
from tests.connectors.helpers import ZENDESK_ENV, load, post_zendesk
from tests.fakes.slack import FakeSlack
from tests.support.app import generic_event
from tests.support.slack import click, deliver, slack_env
from tests.support.smtp import Mailbox

LOCALES = files("nps_bot.surveys.i18n") / "locales"
ON_DISK = sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file())
NEW = ("de", "fr", "es", "pl", "pt", "it", "nl")

# %-style named placeholders, should a catalog ever use them; the catalogs format with str.format.
PERCENT_NAMED = re.compile(r"%\([A-Za-z_]\w*\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
# Characters that mean something in Slack mrkdwn or HTML: a translation must not bring in any the English
# text lacks (templates are filled with escaped values, but the template itself is shown as written).
MARKUP = frozenset("<>&*_~`|")


def po(lang: str) -> Catalog:
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang, abort_invalid=True)


def messages(catalog: Catalog) -> dict[str, Message]:
    return {m.id: m for m in catalog if m.id and isinstance(m.id, str)}


ENGLISH = {key: str(m.string) for key, m in messages(po("en")).items()}


def placeholders(text: str) -> set[str]:
    """Replacement fields as written ("{score}", "{n!r:>3}") plus %(name)s ones; unbalanced braces raise."""
    fields = {
        "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conv in Formatter().parse(text)
        if name is not None
    }
    return fields | set(PERCENT_NAMED.findall(text))


def test_every_catalog_on_disk_is_supported_and_every_supported_language_has_one() -> None:
    assert sorted(i18n.SUPPORTED) == ON_DISK
    assert set(NEW) <= set(i18n.SUPPORTED)


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_no_message_is_missing_empty_fuzzy_or_unknown(lang: str) -> None:
    found = messages(po(lang))
    problems = {
        "missing": sorted(ENGLISH.keys() - found.keys()),
        "empty": sorted(k for k, m in found.items() if not isinstance(m.string, str) or not m.string.strip()),
        "fuzzy": sorted(k for k, m in found.items() if m.fuzzy),
        "unknown": sorted(found.keys() - ENGLISH.keys()),
    }
    assert problems == {"missing": [], "empty": [], "fuzzy": [], "unknown": []}


@pytest.mark.parametrize("lang", [lang for lang in i18n.SUPPORTED if lang != "en"])
def test_placeholders_markup_and_text_match_english(lang: str) -> None:
    found = {k: str(m.string) for k, m in messages(po(lang)).items() if k in ENGLISH and m.string}
    broken: dict[str, str] = {}
    for key, text in found.items():
        try:
            theirs = placeholders(text)
        except ValueError as exc:  # "{company" or a lone "}"
            broken[key] = f"unbalanced braces: {exc}"
            continue
        if theirs != placeholders(ENGLISH[key]):
            broken[key] = f"placeholders {sorted(theirs)} != {sorted(placeholders(ENGLISH[key]))}"
        elif extra := sorted((set(text) & MARKUP) - set(ENGLISH[key])):
            broken[key] = f"markup the English text lacks: {extra}"
        elif text == ENGLISH[key]:
            broken[key] = "left in English"
        else:
            # Fills like t() does, with every placeholder the English text has.
            text.format(**{name: "x" for _, name, _, _ in Formatter().parse(ENGLISH[key]) if name})
    assert broken == {}


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_catalog_compiles_to_mo(lang: str) -> None:
    catalog = po(lang)
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()] == []  # Babel's checkers
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    compiled = GNUTranslations(mo)
    assert compiled.info()["language"] == lang
    assert {k: compiled.gettext(k) for k in ENGLISH} == {k: i18n.catalog(lang)[k] for k in ENGLISH}


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_gnu_msgfmt_accepts_the_file(lang: str) -> None:
    """Babel's reader forgives what a hand edit gets wrong (an unterminated string loses its last letter, a
    duplicate msgid is dropped, an unknown escape stays as written); GNU msgfmt, the reference, does not."""
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    checked = subprocess.run(
        ["msgfmt", "--check", "--output-file=-", str(path)], capture_output=True, text=False, check=False
    )
    assert checked.returncode == 0, checked.stderr.decode()


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
def test_plural_forms_agree_with_cldr(lang: str) -> None:
    """Counts below a million: the header's formula groups numbers as CLDR's categories do (the "many" of
    French, Spanish, Italian and Portuguese only starts at a million)."""
    catalog = po(lang)
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    plural = GNUTranslations(mo).plural  # type: ignore[attr-defined]
    counts = [*range(0, 1200), 10_011, 100_112, 999_999]
    forms = {n: plural(n) for n in counts}
    assert set(forms.values()) == set(range(catalog.num_plurals)), "every form is used, none is out of range"
    category = Locale.parse(lang).plural_form
    groups: dict[int, set[str]] = {}
    for n, form in forms.items():
        groups.setdefault(form, set()).add(category(n))
    assert all(len(cats) == 1 for cats in groups.values()), groups
    assert len(groups) == len({category(n) for n in counts})


def test_polish_has_three_forms() -> None:
    mo = BytesIO()
    write_mo(mo, po("pl"))
    mo.seek(0)
    plural = GNUTranslations(mo).plural  # type: ignore[attr-defined]
    assert [plural(n) for n in (1, 2, 4, 5, 12, 21, 22, 25, 104, 112)] == [0, 1, 1, 2, 2, 2, 1, 2, 1, 2]


@pytest.mark.parametrize(
    ("given", "lang"),
    [
        ("de-DE", "de"),
        ("de_AT", "de"),
        ("pt-BR", "pt"),
        ("pt-pt", "pt"),
        ("fr-CA", "fr"),
        ("es-419", "es"),
        ("es_MX", "es"),
        ("pl-PL", "pl"),
        ("it-CH", "it"),
        ("nl-BE", "nl"),
        ("German", "de"),
        ("Deutsch", "de"),
        ("Portuguese (Brazil)", "pt"),
        ("Brazilian Portuguese", "pt"),
        ("Flemish", "nl"),
        ("français", "fr"),
        ("Polski", "pl"),
        ("Swiss High German", "de"),
        ("Lithuanian", "lt"),
        ("Japanese", "en"),
    ],
)
def test_help_desk_languages_pick_the_catalog(given: str, lang: str) -> None:
    assert i18n.negotiate(language_code(given)) == lang


# -- a "de-DE" customer end to end ------------------------------------------------------------------


def de(key: str, **params: object) -> str:
    text = i18n.t("de", key, **params)
    assert text != i18n.t("en", key, **params)
    return text


def test_a_de_de_zendesk_customer_gets_slack_and_the_page_in_german(
    make_live: Callable[..., Live], fake_slack: FakeSlack, respx_mock: respx.MockRouter
) -> None:
    respx_mock.route(host="127.0.0.1").pass_through()  # the app; any Zendesk API call would be unmocked
    live = make_live(env={**ZENDESK_ENV, **slack_env(fake_slack)}, delivery=["slack"])
    fake_slack.add_user("U0RUTA", "ruta@example.com")
    body = load("zendesk", "trigger_solved.json", {"requester.locale": "de-DE", "requester.language": "German"})
    assert live.outcome(post_zendesk(live, body))["status"] == "scheduled"
    with live.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(surveys)).one()
    assert row.language == "de"

    dm = deliver(live, fake_slack)
    assert dm.params["channel"] == "U0RUTA"
    assert dm.params["text"] == de("survey.fallback_text", company="Acme")
    shown = json.dumps(dm.params["blocks"], ensure_ascii=False)
    assert de("survey.question", company="Acme") in shown
    assert de("survey.greeting", name="Rūta", company="Acme") in shown
    assert de("survey.scale_high") in shown

    click(live, fake_slack, dm, "9")
    (modal,) = fake_slack.wait_for("views.open")
    view = modal.params["view"]
    assert (view["title"]["text"], view["submit"]["text"]) == (de("comment.modal_title"), de("comment.submit"))
    assert view["blocks"][0]["label"]["text"] == de("followup.promoter")
    (update,) = fake_slack.wait_for("chat.update")
    assert de("survey.thanks_score", score=9) in json.dumps(update.params["blocks"], ensure_ascii=False)

    page = live.http.get(f"/s/{row.token}", params={"score": 10})
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert de("survey.question", company="Acme") in page.text
    assert de("web.confirm_score", score=10) in page.text
    assert de("survey.scale_low") in page.text


def test_a_de_de_customer_gets_the_email_in_german(make_live: Callable[..., Live], smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    env = {
        "NPS_BOT_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=false",
        "NPS_BOT_EMAIL_FROM": "Acme Support <support@acme.example>",
        "NPS_BOT_SECRET_KEY": "test-secret-key-for-unsubscribe-links",
    }
    live = make_live(env=env, delivery=["email"])
    assert live.outcome(live.post_generic(generic_event(1, customer={"language": "de-DE"})))["status"] == "scheduled"
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1

    (msg,) = box.messages()
    assert msg["Subject"] == de("email.subject", company="Acme")
    plain, html = (str(msg.get_body((kind,)).get_content()) for kind in ("plain", "html"))  # type: ignore[union-attr]
    for text in (plain, html):
        assert de("survey.question", company="Acme") in text
        assert de("survey.greeting", name="Rūta", company="Acme") in text
        assert de("email.click_hint") in text
    assert de("email.unsubscribe") in plain
    assert msg["List-Unsubscribe"].endswith("?lang=de>")
    unsubscribe = live.http.get(re.search(r"<(https?://[^>]+)>", msg["List-Unsubscribe"]).group(1))  # type: ignore[union-attr]
    assert de("web.unsubscribe_question", company="Acme") in unsubscribe.text
