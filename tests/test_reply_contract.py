"""What every help-desk reply-back must do when the vendor API misbehaves, checked for each
connector that posts into conversations: a rate limit that does not lift and a timeout both put
the survey back on the schedule with the reason (never lost), and the reply setting turns
posting off entirely. Vendor-specific cases (refusals, status checks) stay in tests/test_<vendor>.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType

import httpx
import pytest
import respx

from tests import test_chatwoot, test_freshdesk, test_helpscout, test_intercom, test_zendesk
from tests.conftest import Live
from tests.db_helpers import survey_rows

pytestmark = pytest.mark.usefixtures("no_backoff")


@dataclass(frozen=True)
class Vendor:
    module: ModuleType
    reply_route: Callable[[respx.Router], respx.Route]  # mocks the vendor API, returns the posting route
    what: str  # how nps_bot.plugin.http names the call in errors
    setting: str

    @property
    def name(self) -> str:
        return self.module.__name__.removeprefix("tests.test_")


VENDORS = [
    Vendor(test_zendesk, lambda r: test_zendesk.mock_zendesk(r)[1], "zendesk comment", "NPS_BOT_ZENDESK_REPLY"),
    Vendor(
        test_freshdesk,
        lambda r: test_freshdesk.mock_freshdesk(r, statuses=(4, 4, 4))["reply"],
        "freshdesk reply",
        "NPS_BOT_FRESHDESK_REPLY",
    ),
    Vendor(
        test_helpscout,
        lambda r: test_helpscout.mock_helpscout(r)["reply"],
        "helpscout reply",
        "NPS_BOT_HELPSCOUT_REPLY",
    ),
    Vendor(
        test_intercom, lambda r: test_intercom.mock_intercom(r)["reply"], "intercom reply", "NPS_BOT_INTERCOM_REPLY"
    ),
    Vendor(test_chatwoot, test_chatwoot.mock_chatwoot, "chatwoot message", "NPS_BOT_CHATWOOT_REPLY"),
]
vendors = pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)


def replying(make_live: Callable[..., Live], vendor: Vendor, **env: str) -> Live:
    live = make_live(env={**vendor.module.ENV, **env}, delivery=["helpdesk"], survey_delay=timedelta(0))
    vendor.module.schedule_due(live)
    return live


@vendors
def test_rate_limit_that_does_not_lift_goes_back_to_the_schedule(
    make_live: Callable[..., Live], vendor: Vendor
) -> None:
    live = replying(make_live, vendor)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.mock(return_value=httpx.Response(429, headers={"retry-after": "0"}))
        live.worker().run_once()

    assert route.call_count == 3
    [row] = survey_rows(live)
    assert row.state == "scheduled"
    assert f"{vendor.what}: HTTP 429" in row.last_error
    assert row.due_at > live.clock.now()


@vendors
def test_timeouts_are_retried_and_the_survey_is_never_lost(make_live: Callable[..., Live], vendor: Vendor) -> None:
    live = replying(make_live, vendor)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.side_effect = httpx.ReadTimeout("timed out")
        live.worker().run_once()

    assert route.call_count == 3
    [row] = survey_rows(live)
    assert row.state == "scheduled"
    assert f"{vendor.what}: timed out" in row.last_error


@vendors
def test_the_reply_setting_turns_posting_off(make_live: Callable[..., Live], vendor: Vendor) -> None:
    live = replying(make_live, vendor, **{vendor.setting: "false"})
    with respx.mock(assert_all_called=False) as router:
        vendor.reply_route(router)
        live.worker().run_once()

    assert [c.request.url.host for c in router.calls if c.request.url.host != "127.0.0.1"] == []
    [row] = survey_rows(live)
    assert row.state == "undeliverable"
    assert vendor.setting in row.reason


@vendors
@pytest.mark.parametrize("status", [401, 404])
def test_vendor_refusal_makes_the_survey_undeliverable(
    make_live: Callable[..., Live], vendor: Vendor, status: int
) -> None:
    live = replying(make_live, vendor)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.mock(return_value=httpx.Response(status, json={"error": "refused"}))
        live.worker().run_once()

    [row] = survey_rows(live)
    assert row.state == "undeliverable"
    assert f"{vendor.what}: HTTP {status}" in row.reason


@vendors
@pytest.mark.parametrize("failure", [429, 502], ids=["rate-limited", "server-error"])
def test_a_passing_failure_is_retried_within_the_call(
    make_live: Callable[..., Live], vendor: Vendor, failure: int
) -> None:
    live = replying(make_live, vendor)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.side_effect = [httpx.Response(failure, headers={"retry-after": "0"}), route.return_value]
        live.worker().run_once()

    assert route.call_count == 2
    assert survey_rows(live)[0].state == "sent"
