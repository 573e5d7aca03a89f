"""The hosted pages' branding settings and security headers over HTTP (the browser checks are in
tests/test_page_browser.py): a Content-Security-Policy that allows exactly the page's own inline
style and script and the logo's origin, escaped company text, validated settings, readable text."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from nps_bot.config import Settings
from nps_bot.surveys import unsubscribe
from nps_bot.surveys.page_theme import contrast, text_on
from tests.db_helpers import only_survey
from tests.support.app import Live, generic_event


def sent_survey(live: Live) -> Any:
    assert live.post_generic(generic_event(1)).status_code == 202
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    return only_survey(live)


def policy(response: httpx.Response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline(tag: str, page: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)


def test_the_policy_allows_only_the_pages_own_style_and_script(make_live: Callable[..., Live]) -> None:
    live = make_live()
    row = sent_survey(live)
    page = live.http.get(f"/s/{row.token}", params={"score": 9})
    csp = policy(page)
    ((style,), (script,)) = inline("style", page.text), inline("script", page.text)
    assert csp["style-src"] == sha256_source(style)
    assert csp["script-src"] == sha256_source(script)
    assert csp["default-src"] == "'none'" and csp["img-src"] == "'none'", "no logo, no images"
    assert (csp["form-action"], csp["base-uri"], csp["frame-ancestors"]) == ("'self'", "'none'", "'none'")
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every hosted page carries it: the follow-up, errors, and the unsubscribe pages.
    others = [
        live.http.post(f"/s/{row.token}", data={"score": "9"}),
        live.http.get("/s/no-such-token"),
        live.http.get(f"/s/{row.token}", params={"score": "x"}),
        live.http.get(f"{unsubscribe.PATH}not-a-valid-token"),
    ]
    assert [r.status_code for r in others] == [200, 404, 400, 404]
    for response in others:
        assert policy(response) == csp
        assert inline("style", response.text) == [style]


def test_the_logo_origin_is_allowed_and_company_text_is_escaped(make_live: Callable[..., Live]) -> None:
    company = '<script>alert(1)</script> & "Sons"'
    live = make_live(company_name=company, brand_logo_url="https://cdn.example.com:8443/brand/logo.png?v=2")
    row = sent_survey(live)
    page = live.http.get(f"/s/{row.token}")
    assert policy(page)["img-src"] == "https://cdn.example.com:8443"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Sons&quot;"
    assert f'<img class="logo" src="https://cdn.example.com:8443/brand/logo.png?v=2" alt="{escaped}">' in page.text
    assert "<script>alert" not in page.text
    assert escaped in re.search(r"<h1>(.*?)</h1>", page.text).group(1)  # type: ignore[union-attr]


def test_the_brand_colour_styles_the_chosen_score_and_buttons(make_live: Callable[..., Live]) -> None:
    live = make_live(brand_color="#FFD400")
    row = sent_survey(live)
    page = live.http.get(f"/s/{row.token}", params={"score": 7})
    (style,) = inline("style", page.text)
    assert ".scale button[aria-pressed=true]{background:#ffd400;color:#000000;" in style
    assert ".send{" in style and "background:#ffd400;color:#000000;" in style.split(".send{", 1)[1]
    assert "#1264a3" not in style, "the default colour is replaced everywhere"


@pytest.mark.parametrize(
    "env",
    [
        {"NPS_BOT_BRAND_COLOR": "red"},
        {"NPS_BOT_BRAND_COLOR": "#12345"},
        {"NPS_BOT_BRAND_COLOR": "#1234567"},
        {"NPS_BOT_BRAND_COLOR": "#12g456"},
        {"NPS_BOT_BRAND_LOGO_URL": "http://cdn.example.com/logo.png"},
        {"NPS_BOT_BRAND_LOGO_URL": "javascript:alert(1)"},
        {"NPS_BOT_BRAND_LOGO_URL": "https://cdn.example.com/a logo.png"},
        {"NPS_BOT_BRAND_LOGO_URL": "https://cdn.example.com/x.png'; script-src *"},
        {"NPS_BOT_BRAND_LOGO_URL": 'https://cdn.example.com/x.png" onerror="alert(1)'},
        {"NPS_BOT_BRAND_LOGO_URL": "https://user:pw@cdn.example.com/x.png"},
    ],
)
def test_invalid_branding_settings_are_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert next(iter(env)).removeprefix("NPS_BOT_").lower() in str(refused.value)


def test_valid_branding_settings_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NPS_BOT_BRAND_COLOR", " #ABCDEF ")
    monkeypatch.setenv("NPS_BOT_BRAND_LOGO_URL", "https://cdn.example.com/logo.svg")
    settings = Settings()
    assert (settings.brand_color, settings.brand_logo_url) == ("#abcdef", "https://cdn.example.com/logo.svg")
    monkeypatch.setenv("NPS_BOT_BRAND_COLOR", "")
    monkeypatch.setenv("NPS_BOT_BRAND_LOGO_URL", "")
    assert (Settings().brand_color, Settings().brand_logo_url) == (None, None)


@pytest.mark.parametrize(
    ("background", "text"),
    [("#ffffff", "#000000"), ("#000000", "#ffffff"), ("#1264a3", "#ffffff"), ("#ffd400", "#000000")],
)
def test_text_on_a_colour_is_black_or_white_by_luminance(background: str, text: str) -> None:
    assert text_on(background) == text


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_text_on_any_brand_colour_meets_wcag_aa(value: int) -> None:
    background = f"#{value:06x}"
    assert contrast(background, text_on(background)) >= 4.5
