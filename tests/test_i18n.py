"""Tests for nps_bot.surveys.i18n: catalog consistency, Slack length limits, negotiation and lookup fallbacks."""

from collections.abc import Mapping
from importlib.resources import files
from string import Formatter

import pytest
from babel.messages.pofile import read_po

from nps_bot.surveys import i18n
from nps_bot.surveys.i18n import KEYS, SUPPORTED, catalog, negotiate, t

NON_ENGLISH = [lang for lang in SUPPORTED if lang != "en"]

# Slack Block Kit limits: modal title / submit / close text 24 characters, input placeholder 150.
SLACK_LIMITS = {
    "comment.modal_title": 24,
    "comment.submit": 24,
    "comment.close": 24,
    "comment.placeholder": 150,
}

EXPECTED_PLURALS = {
    "en": 2, "lt": 3, "lv": 3, "et": 2, "uk": 3, "hu": 2,
    "de": 2, "fr": 2, "es": 2, "pl": 3, "pt": 2, "it": 2, "nl": 2,
}  # fmt: skip


def placeholders(template: str) -> set[str]:
    """Names of the replacement fields in a str.format template."""
    return {field for _, field, _, _ in Formatter().parse(template) if field is not None}


def test_keys_come_from_the_english_catalog() -> None:
    assert set(catalog("en")) == KEYS
    assert {"survey.question", "comment.modal_title", "ces.question"} <= KEYS


@pytest.mark.parametrize("lang", SUPPORTED)
def test_catalog_has_exactly_the_english_keys(lang: str) -> None:
    assert set(catalog(lang)) == KEYS


@pytest.mark.parametrize("lang", NON_ENGLISH)
def test_messages_use_the_same_placeholders_as_english(lang: str) -> None:
    english = catalog("en")
    mismatched = {
        key: (placeholders(text), placeholders(english[key]))
        for key, text in catalog(lang).items()
        if placeholders(text) != placeholders(english[key])
    }
    assert mismatched == {}


@pytest.mark.parametrize("lang", SUPPORTED)
@pytest.mark.parametrize(("key", "limit"), SLACK_LIMITS.items())
def test_slack_length_limits(lang: str, key: str, limit: int) -> None:
    assert 0 < len(catalog(lang)[key]) <= limit


@pytest.mark.parametrize("lang", SUPPORTED)
def test_po_headers(lang: str) -> None:
    po_file = files("nps_bot.surveys.i18n") / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with po_file.open("rb") as fh:
        po = read_po(fh, abort_invalid=True)
    assert str(po.locale) == lang
    assert po.charset.lower() == "utf-8"
    assert po.num_plurals == EXPECTED_PLURALS[lang]
    assert po.mime_headers  # parsed without error
    assert dict(po.mime_headers)["Plural-Forms"].startswith(f"nplurals={EXPECTED_PLURALS[lang]};")


@pytest.mark.parametrize("lang", NON_ENGLISH)
def test_catalog_is_really_translated(lang: str) -> None:
    assert catalog(lang)["survey.question"] != catalog("en")["survey.question"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("lt", "lt"),
        ("lt-LT", "lt"),
        ("LT_lt", "lt"),
        ("uk_UA", "uk"),
        ("uk-UA", "uk"),
        ("hu_HU.UTF-8", "hu"),
        ("lv", "lv"),
        ("et-EE", "et"),
        ("en-US", "en"),
        (" lt ", "lt"),
        (None, "en"),
        ("", "en"),
        ("   ", "en"),
        ("de-DE", "de"),
        ("pt-BR", "pt"),
        ("ja-JP", "en"),
        ("ru", "en"),
        ("xx", "en"),
        ("not a locale", "en"),
    ],
)
def test_negotiate(tag: str | None, expected: str) -> None:
    assert negotiate(tag) == expected


def test_catalog_rejects_unsupported_language() -> None:
    with pytest.raises(ValueError):
        catalog("ja")


def test_t_formats_params() -> None:
    assert t("en", "survey.greeting", name="Ona", company="Acme") == ("Hi Ona, thanks for contacting Acme support.")
    assert t("lt-LT", "survey.thanks_score", score=7) == "Dėkojame! Pasirinkote 7."


def test_t_does_not_reinterpret_braces_in_params() -> None:
    assert t("en", "comment.your_comment", comment="{oops} {0}") == "Your comment: {oops} {0}"


def test_t_unknown_language_uses_english() -> None:
    assert t("ja", "web.thanks") == "Thank you for your feedback!"


def test_t_falls_back_to_english_for_a_key_missing_from_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    real_catalog = i18n.catalog

    def catalog_without_question(lang: str) -> Mapping[str, str]:
        messages = dict(real_catalog(lang))
        if lang == "lt":
            del messages["survey.question"]
        return messages

    monkeypatch.setattr(i18n, "catalog", catalog_without_question)

    assert t("lt", "survey.question", company="Acme") == (
        "How likely are you to recommend Acme to a friend or colleague?"
    )
    assert t("lt", "web.submit") == real_catalog("lt")["web.submit"] != "Send"


def test_t_falls_back_to_the_key_for_an_unknown_key() -> None:
    assert t("lt", "no.such.key") == "no.such.key"
    assert t(None, "no.such.key") == "no.such.key"


def test_t_missing_param_is_an_error() -> None:
    with pytest.raises(KeyError):
        t("en", "survey.question")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("da, lt;q=0.8, en;q=0.7", "lt"),  # Danish first, but we have no Danish
        ("en;q=0.5, de-DE", "de"),  # q ranks, not the order sent
        ("fr-CA;q=0.9, nl;q=0.9", "fr"),  # ties keep the order sent
        ("uk-UA,uk;q=0.9,en;q=0.5", "uk"),
        ("lt;q=0, lv", "lv"),  # q=0: "not Lithuanian"
        ("da, *;q=0.5", None),
        ("", None),
        (None, None),
        ("lt;q=abc, et;q=nan, hu;q=2, pl;q=0.1", "pl"),  # unreadable or out-of-range weights are dropped
        (",,;q=1, ;, en", "en"),
    ],
)
def test_accept_language_gives_the_supported_language_the_browser_prefers(
    header: str | None, expected: str | None
) -> None:
    assert i18n.accepted(header) == expected
