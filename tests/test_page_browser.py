"""The hosted survey page in a real headless Chromium (Debian's `chromium` and `chromium-driver`, which
.ci/run installs) against the real app on 127.0.0.1: answering with and without JavaScript, the
layout on a phone, branding, the Content-Security-Policy, and an axe-core accessibility scan.

A missing browser fails these tests (never skips them). Screenshots go to $TEST_ARTIFACTS_DIR, or
to `test-artifacts/` under pytest's temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from nps_bot.store.schema import responses
from nps_bot.surveys import i18n
from tests.db_helpers import only_survey, rows
from tests.fakes.slack import FakeSlack
from tests.support.app import Live, generic_event
from tests.support.slack import slack_env
from tests.support.smtp import Mailbox

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
# axe-core 4.14.1 from npm (MPL-2.0), vendored: see tests/vendor/axe-core/README.md.
AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SMALL_PHONE, PHONE, DESKTOP = (320, 640), (390, 844), (1280, 900)
MIN_TARGET = 44  # px, the smallest comfortable touch target


def _chromium(javascript: bool) -> WebDriver:
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert Path(CHROMIUM).exists() and Path(driver_path).exists(), (
        "Chromium is missing: apt-get install chromium chromium-driver (.ci/run does)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en"):
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


@pytest.fixture(scope="module")
def _with_js() -> Iterator[WebDriver]:
    driver = _chromium(javascript=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def _without_js() -> Iterator[WebDriver]:
    driver = _chromium(javascript=False)
    yield driver
    driver.quit()


def _fresh(driver: WebDriver) -> WebDriver:
    """One browser serves the module's tests: each starts on a desktop viewport with an empty console log."""
    viewport(driver, DESKTOP)
    driver.get_log("browser")
    return driver


@pytest.fixture
def browser(_with_js: WebDriver) -> WebDriver:
    return _fresh(_with_js)


@pytest.fixture
def browser_without_js(_without_js: WebDriver) -> WebDriver:
    return _fresh(_without_js)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("TEST_ARTIFACTS_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "test-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live()


def sent_survey(live: Live, n: int = 1, **overrides: Any) -> Any:
    assert live.post_generic(generic_event(n, **overrides)).status_code == 202
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    return only_survey(live)


def answers(live: Live) -> list[tuple[int, str | None, str]]:
    return [(r.score, r.comment, r.source) for r in rows(live, responses)]


def viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def screenshot(driver: WebDriver, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def score_button(driver: WebDriver, score: int) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'.scale button[value="{score}"]')


def wait_for_text(driver: WebDriver, text: str) -> None:
    # The page may be replaced (a form posting) while it is read: a stale or missing element, or
    # Chromium's "node does not belong to the document", means "not yet", so read again.
    wait = WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,))
    wait.until(lambda d: text in d.execute_script("return document.body ? document.body.innerText : ''"))


def box(element: WebElement) -> dict[str, float]:
    """The element's bounding box in CSS pixels (left, top, right, bottom, width, height)."""
    return element.parent.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height};",
        element,
    )


def csp_violations(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def axe_serious(driver: WebDriver) -> list[str]:
    """Serious and critical axe-core violations on the current page, one line per rule."""
    driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {rules: {'target-size': {enabled: true}}})"
        ".then(r => done(r), e => done({error: String(e)}));"
    )
    assert "error" not in results, results
    assert results["passes"], "axe ran no check"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# -- answering ----------------------------------------------------------------------------------


def test_click_a_score_then_comment_with_javascript(live: Live, browser: WebDriver, artifacts: Path) -> None:
    row = sent_survey(live)
    viewport(browser, DESKTOP)
    browser.get(f"{live.url}/s/{row.token}")
    assert browser.execute_script("return document.documentElement.lang") == "lt"
    screenshot(browser, artifacts, "survey-1280")
    assert answers(live) == [], "showing the page records nothing"

    score_button(browser, 9).click()
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=9))
    assert score_button(browser, 9).get_attribute("aria-pressed") == "true"
    assert [b.get_attribute("aria-pressed") for b in browser.find_elements(By.CSS_SELECTOR, ".scale button")].count(
        "true"
    ) == 1
    assert answers(live) == [(9, None, "web")]

    browser.find_element(By.ID, "c").send_keys("Greita pagalba <b>ačiū</b>")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/comment'] button").click()
    wait_for_text(browser, i18n.t("lt", "web.thanks"))
    assert answers(live) == [(9, "Greita pagalba <b>ačiū</b>", "web")]
    assert csp_violations(browser) == []


def test_a_one_click_link_posts_itself_with_javascript(live: Live, browser: WebDriver) -> None:
    row = sent_survey(live)
    browser.get(f"{live.url}/s/{row.token}?score=3")
    # The page's own (hash-allowed) script posts the score: no click needed.
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=3))
    assert answers(live) == [(3, None, "web")]
    assert csp_violations(browser) == []


def test_everything_works_without_javascript(live: Live, browser_without_js: WebDriver) -> None:
    driver = browser_without_js
    row = sent_survey(live)
    driver.get(f"{live.url}/s/{row.token}?score=4")
    label = i18n.t("lt", "web.confirm_score", score=4)
    confirm = driver.find_element(By.CSS_SELECTOR, "#answer button")
    assert confirm.text == label and confirm.is_displayed()
    assert score_button(driver, 4).get_attribute("aria-pressed") == "true"
    assert i18n.t("lt", "survey.thanks_score", score=4) not in driver.page_source, "no script ran"
    assert answers(live) == [], "without scripts, nothing is posted until the button is pressed"

    confirm.click()
    wait_for_text(driver, i18n.t("lt", "survey.thanks_score", score=4))
    assert answers(live) == [(4, None, "web")]

    score_button(driver, 7).click()  # a score button is a plain submit button
    wait_for_text(driver, i18n.t("lt", "survey.thanks_score", score=7))
    driver.find_element(By.ID, "c").send_keys("Be JavaScript")
    driver.find_element(By.CSS_SELECTOR, "form[action$='/comment'] button").click()
    wait_for_text(driver, i18n.t("lt", "web.thanks"))
    assert answers(live) == [(7, "Be JavaScript", "web")]


# -- layout -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "low", "high"), [("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)])
def test_layout_on_a_phone_and_a_desktop(
    live: Live, browser: WebDriver, artifacts: Path, kind: str, low: int, high: int
) -> None:
    row = sent_survey(live, survey=kind)
    for size in (SMALL_PHONE, PHONE, DESKTOP):
        viewport(browser, size)
        browser.get(f"{live.url}/s/{row.token}")
        width = size[0]
        assert browser.execute_script("return window.innerWidth") == width
        screenshot(browser, artifacts, f"{kind}-survey-{width}")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width, "no sideways scroll"
        buttons = browser.find_elements(By.CSS_SELECTOR, ".scale button")
        assert [int(b.text) for b in buttons] == list(range(low, high + 1))
        boxes = [box(b) for b in buttons]
        group = box(browser.find_element(By.CSS_SELECTOR, ".scale"))
        assert max(b["right"] for b in boxes) <= group["right"] + 0.5, "the buttons fit their group"
        for n, b in zip(range(low, high + 1), boxes, strict=True):
            assert b["width"] >= MIN_TARGET and b["height"] >= MIN_TARGET, (width, n, b)
            assert b["left"] >= 0 and b["right"] <= width, (width, n, b)
        first, last = boxes[0], boxes[-1]
        low_anchor = box(browser.find_element(By.CSS_SELECTOR, ".scale .low"))
        high_anchor = box(browser.find_element(By.CSS_SELECTOR, ".scale .high"))
        # Each anchor sits right under its end button: below it, and starting (ending) where it does.
        assert low_anchor["top"] >= first["bottom"] and low_anchor["top"] - first["bottom"] < 16, (first, low_anchor)
        assert abs(low_anchor["left"] - first["left"]) <= 1, (first, low_anchor)
        assert high_anchor["top"] >= last["bottom"] and high_anchor["top"] - last["bottom"] < 16, (last, high_anchor)
        assert abs(high_anchor["right"] - last["right"]) <= 1, (last, high_anchor)
        assert low_anchor["right"] <= width and high_anchor["left"] >= 0
        if width <= PHONE[0] and kind == "nps":
            assert len({round(b["top"]) for b in boxes}) == 2, "11 buttons of 44 px wrap into two rows on a phone"
        if width == DESKTOP[0]:
            assert len({round(b["top"]) for b in boxes}) == 1, "one row on a desktop"

    viewport(browser, PHONE)
    score_button(browser, high).click()
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=high))
    textarea = box(browser.find_element(By.ID, "c"))
    assert textarea["left"] >= 0 and textarea["right"] <= PHONE[0], textarea
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    screenshot(browser, artifacts, f"{kind}-comment-{PHONE[0]}")


# -- branding and accessibility -----------------------------------------------------------------


def rgb(color: str) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 1)"  # as Selenium reports computed colours


@pytest.mark.parametrize(("brand", "text"), [("#ffd400", "#000000"), ("#5b2a86", "#ffffff")])
def test_brand_colour_logo_and_escaped_company(
    make_live: Callable[..., Live], browser: WebDriver, artifacts: Path, brand: str, text: str
) -> None:
    company = 'Acme <img src=x> & "Sons"'
    live = make_live(company_name=company, brand_color=brand, brand_logo_url="https://cdn.example.com/logo.svg")
    row = sent_survey(live)
    viewport(browser, PHONE)
    browser.get(f"{live.url}/s/{row.token}?score=8")
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=8))
    screenshot(browser, artifacts, f"branded-{brand[1:]}-{PHONE[0]}")

    logo = browser.find_element(By.CSS_SELECTOR, "header img.logo")
    assert logo.get_attribute("alt") == company
    assert logo.get_attribute("src") == "https://cdn.example.com/logo.svg"
    assert len(browser.find_elements(By.TAG_NAME, "img")) == 1, "the company name is text, not markup"
    assert company in browser.find_element(By.TAG_NAME, "h1").text
    chosen = score_button(browser, 8)
    assert chosen.value_of_css_property("background-color") == rgb(brand)
    assert chosen.value_of_css_property("color") == rgb(text)
    send = browser.find_element(By.CSS_SELECTOR, "form[action$='/comment'] button")
    assert send.value_of_css_property("background-color") == rgb(brand)
    assert send.value_of_css_property("color") == rgb(text)
    assert csp_violations(browser) == [], "the logo's origin is allowed, inline style and script by hash"
    assert axe_serious(browser) == []


def test_no_serious_accessibility_violations(live: Live, browser: WebDriver) -> None:
    row = sent_survey(live)
    viewport(browser, PHONE)
    pages: dict[str, list[str]] = {}
    browser.get(f"{live.url}/s/{row.token}")
    pages["survey"] = axe_serious(browser)
    score_button(browser, 2).click()
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=2))
    pages["comment"] = axe_serious(browser)
    browser.find_element(By.ID, "c").send_keys("Per ilgai laukiau")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/comment'] button").click()
    wait_for_text(browser, i18n.t("lt", "web.thanks"))
    pages["thank-you"] = axe_serious(browser)
    browser.get(f"{live.url}/s/no-such-token")
    wait_for_text(browser, i18n.t("en", "web.not_found"))
    pages["not found"] = axe_serious(browser)
    browser.get(f"{live.url}/s/{row.token}?score=99")
    wait_for_text(browser, i18n.t("lt", "web.bad_score", low=0, high=10))
    pages["bad score"] = axe_serious(browser)
    assert pages == {name: [] for name in pages}
    assert csp_violations(browser) == []


def test_a_customer_slack_cannot_reach_answers_the_email_in_chromium(
    make_live: Callable[..., Live], fake_slack: FakeSlack, smtp: tuple[Mailbox, int], browser: WebDriver
) -> None:
    """Slack first, e-mail as the fallback: the customer is not in the workspace, so the survey goes
    by e-mail through a real SMTP server; its one-click link opens in Chromium, the score is recorded
    and a comment follows."""
    box, port = smtp
    env = slack_env(fake_slack) | {
        "NPS_BOT_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=false",
        "NPS_BOT_EMAIL_FROM": "Acme Support <support@acme.example>",
        "NPS_BOT_SECRET_KEY": "browser-test-secret-key-for-links",
    }
    live = make_live(env=env, delivery=["slack", "email"])
    event = generic_event(1, customer={"slack_user_id": None, "email": "not.in.slack@example.com"})
    assert live.post_generic(event).status_code == 202
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    assert fake_slack.calls_to("users.lookupByEmail") and not fake_slack.calls_to("chat.postMessage")
    (mail,) = box.messages()
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    links = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+/s/[^"]+\?score=\d+[^"]*)"', html)]
    assert len(links) == 11 and links[9].startswith(f"{live.url}/s/")

    browser.get(links[9])  # one click in the e-mail: the page records it by itself (POST, not the GET)
    wait_for_text(browser, i18n.t("lt", "survey.thanks_score", score=9))
    browser.find_element(By.ID, "c").send_keys("Answered from my inbox")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/comment'] button").click()
    wait_for_text(browser, i18n.t("lt", "web.thanks"))
    assert answers(live) == [(9, "Answered from my inbox", "web")]
    assert only_survey(live).delivery_channel == "email"
