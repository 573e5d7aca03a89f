"""What every connector must do, checked for each: no secret configured or a bad proof -> 401, a stale signed
timestamp -> 401, a malformed body -> 400, an unrelated event -> 202 ignored, a redelivery -> one survey;
and every reply-back: a rate limit that does not lift and a timeout put the survey back on the schedule (never
lost), refusals make it undeliverable, and the reply setting turns posting off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from integrations.chatwoot import ChatwootConnector, ChatwootSettings
from integrations.freshdesk import FreshdeskConnector, FreshdeskSettings
from integrations.generic import GenericConnector, GenericSettings
from integrations.helpscout import HelpScoutConnector, HelpScoutSettings
from integrations.intercom import IntercomConnector, IntercomSettings
from integrations.liveagent import LiveAgentConnector, LiveAgentSettings
from integrations.nicereply import NicereplyIntegration, NicereplySettings
from integrations.zendesk import ZendeskConnector, ZendeskSettings
from nps_bot.plugin.ports import BadPayload, Unauthorized
from tests.conftest import GENERIC_SECRET, Live, generic_event
from tests.connectors import helpers as h
from tests.db_helpers import survey_rows


@dataclass(frozen=True)
class Connector:
    name: str
    make: Callable[[bool], Any]  # configured=False: no secret
    env: dict[str, str]
    secret_setting: str
    event: Callable[[], Any]
    headers: Callable[..., dict[str, str]]  # (raw, wrong=False) -> headers that prove (or fail to prove) the sender
    query: Callable[[bool], dict[str, str]] = lambda wrong: {}
    unrelated: Callable[[], Any] | None = None
    unrelated_headers: Callable[[bytes], dict[str, str]] | None = None
    stale: Callable[[bytes], dict[str, str]] | None = None

    def request(self, body: Any, *, wrong: bool = False, headers: dict[str, str] | None = None) -> Any:
        raw = h.raw_of(body)
        return h.request(raw, headers or self.headers(raw, wrong=wrong), query=self.query(wrong))

    def url_query(self, wrong: bool = False) -> str:
        q = self.query(wrong)
        return "?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else ""


def _secret(wrong: bool, right: str) -> str:
    return "not-the-secret" if wrong else right


STALE = h.NOW - timedelta(minutes=6)
CONNECTORS = [
    Connector(
        "zendesk",
        lambda ok: ZendeskConnector(ZendeskSettings(signing_secret=[h.ZENDESK_SECRET] if ok else [], subdomain="acme")),
        h.ZENDESK_ENV,
        "NPS_BOT_ZENDESK_SIGNING_SECRET",
        lambda: h.fixture("zendesk", "trigger_solved.json"),
        lambda raw, wrong=False: h.zendesk_headers(raw, secret=_secret(wrong, h.ZENDESK_SECRET)),
        unrelated=lambda: h.fixture("zendesk", "event_ticket_created.json"),
        stale=lambda raw: h.zendesk_headers(raw, at=STALE),
    ),
    Connector(
        "freshdesk",
        lambda ok: FreshdeskConnector(FreshdeskSettings(secret=[h.FRESHDESK_SECRET] if ok else [], domain="acme")),
        h.FRESHDESK_ENV,
        "NPS_BOT_FRESHDESK_SECRET",
        lambda: h.fixture("freshdesk", "rule_resolved.json"),
        lambda raw, wrong=False: h.freshdesk_headers(raw, token=_secret(wrong, h.FRESHDESK_SECRET)),
        unrelated=lambda: h.load("freshdesk", "rule_resolved.json", {"event": "note_added"}),
    ),
    Connector(
        "helpscout",
        lambda ok: HelpScoutConnector(HelpScoutSettings(secret=[h.HELPSCOUT_SECRET] if ok else [])),
        h.HELPSCOUT_ENV,
        "NPS_BOT_HELPSCOUT_SECRET",
        lambda: h.fixture("helpscout", "convo_status_closed.json"),
        lambda raw, wrong=False: h.helpscout_headers(raw, secret=_secret(wrong, h.HELPSCOUT_SECRET)),
        unrelated=lambda: h.fixture("helpscout", "convo_status_closed.json"),
        unrelated_headers=lambda raw: h.helpscout_headers(raw, event="helpscout.test"),
    ),
    Connector(
        "intercom",
        lambda ok: IntercomConnector(IntercomSettings(client_secret=[h.INTERCOM_SECRET] if ok else [])),
        h.INTERCOM_ENV,
        "NPS_BOT_INTERCOM_CLIENT_SECRET",
        lambda: h.fixture("intercom", "conversation_admin_closed.json"),
        lambda raw, wrong=False: h.intercom_headers(raw, secret=_secret(wrong, h.INTERCOM_SECRET)),
        unrelated=lambda: h.fixture("intercom", "ping.json"),
    ),
    Connector(
        "chatwoot",
        lambda ok: ChatwootConnector(
            ChatwootSettings(secret=[h.CHATWOOT_SECRET] if ok else [], base_url="chat.acme.example")
        ),
        h.CHATWOOT_ENV,
        "NPS_BOT_CHATWOOT_SECRET",
        lambda: h.fixture("chatwoot", "status_changed_resolved.json"),
        lambda raw, wrong=False: h.chatwoot_headers(raw, secret=_secret(wrong, h.CHATWOOT_SECRET)),
        unrelated=lambda: h.fixture("chatwoot", "conversation_created.json"),
        stale=lambda raw: h.chatwoot_headers(raw, at=STALE),
    ),
    Connector(
        "liveagent",
        lambda ok: LiveAgentConnector(LiveAgentSettings(secret=[h.LIVEAGENT_SECRET] if ok else [])),
        h.LIVEAGENT_ENV,
        "NPS_BOT_LIVEAGENT_SECRET",
        lambda: h.fixture("liveagent", "rule_resolved.json"),
        lambda raw, wrong=False: {"content-type": "application/json"},
        query=lambda wrong: {"token": _secret(wrong, h.LIVEAGENT_SECRET)},
        unrelated=lambda: h.fixture("liveagent", "rule_postponed.json"),
    ),
    Connector(
        "nicereply",
        lambda ok: NicereplyIntegration(None, NicereplySettings(secret=[h.NICEREPLY_SECRET] if ok else [])),  # type: ignore[arg-type]
        h.NICEREPLY_ENV,
        "NPS_BOT_NICEREPLY_SECRET",
        lambda: h.fixture("nicereply", "rating_nps.json"),
        lambda raw, wrong=False: {"content-type": "application/json"},
        query=lambda wrong: {"token": _secret(wrong, h.NICEREPLY_SECRET)},
    ),
    Connector(
        "generic",
        lambda ok: GenericConnector(GenericSettings(secret=[GENERIC_SECRET] if ok else [])),
        {},
        "NPS_BOT_GENERIC_SECRET",
        lambda: generic_event(1),
        lambda raw, wrong=False: h.generic_headers(raw, secret=_secret(wrong, GENERIC_SECRET)),
        unrelated=lambda: generic_event(1, event="ticket.updated"),
        stale=lambda raw: h.generic_headers(raw, at=STALE),
    ),
]
every = pytest.mark.parametrize("c", CONNECTORS, ids=lambda c: c.name)
signing_a_timestamp = pytest.mark.parametrize("c", [c for c in CONNECTORS if c.stale], ids=lambda c: c.name)
parsing = pytest.mark.parametrize("c", [c for c in CONNECTORS if c.unrelated], ids=lambda c: c.name)


@every
def test_a_valid_request_verifies(c: Connector) -> None:
    c.make(True).verify(c.request(c.event()))


@every
def test_missing_secret_configuration_is_401(c: Connector) -> None:
    with pytest.raises(Unauthorized, match=c.secret_setting) as exc:
        c.make(False).verify(c.request(c.event()))
    assert exc.value.status == 401


@every
def test_bad_signature_or_token_is_401(c: Connector) -> None:
    with pytest.raises(Unauthorized) as exc:
        c.make(True).verify(c.request(c.event(), wrong=True))
    assert exc.value.status == 401


@signing_a_timestamp
def test_stale_timestamp_is_401(c: Connector) -> None:
    raw = h.raw_of(c.event())
    with pytest.raises(Unauthorized):
        c.make(True).verify(h.request(raw, c.stale(raw)))  # type: ignore[misc]


@parsing
def test_malformed_body_is_400(c: Connector) -> None:
    connector = c.make(True)
    req = c.request(b"{not json")
    connector.verify(req)
    with pytest.raises(BadPayload) as exc:
        connector.parse(req)
    assert exc.value.status == 400


@parsing
def test_unrelated_event_is_ignored(c: Connector) -> None:
    raw = h.raw_of(c.unrelated())  # type: ignore[misc]
    headers = c.unrelated_headers(raw) if c.unrelated_headers else c.headers(raw)
    h.parse_ignored(c.make(True), h.request(raw, headers, query=c.query(False)))


# -- over HTTP: the web layer's answers, and dedupe in the core --------------------------------------


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    env: dict[str, str] = {}
    for c in CONNECTORS:
        env |= c.env
    return make_live(env=env, throttle_days=0)  # the fixtures share customers across vendors


def _post(live: Live, c: Connector, body: Any, *, wrong: bool = False) -> httpx.Response:
    raw = h.raw_of(body)
    return h.post(live, c.name, raw, c.headers(raw, wrong=wrong), c.url_query(wrong))


def test_http_answers_for_every_connector(live: Live) -> None:
    """One app serves every connector: 401 for a bad proof, 400 for a malformed body, 202 ignored, 202 scheduled
    and then duplicate for a redelivery, with exactly one survey per connector."""
    for c in CONNECTORS:
        refused = _post(live, c, c.event(), wrong=True)
        assert refused.status_code == 401, (c.name, refused.text)
        if c.unrelated:
            assert _post(live, c, b"{not json").status_code == 400, c.name
    assert survey_rows(live) == []

    for c in CONNECTORS:
        if c.name == "nicereply":
            continue  # a rating is an answer, not a survey to schedule: tests/connectors/test_nicereply_http.py
        if c.unrelated and not c.unrelated_headers:
            ignored = _post(live, c, c.unrelated())
            assert (ignored.status_code, live.outcome(ignored)["status"]) == (202, "ignored"), c.name
        first, again = _post(live, c, c.event()), _post(live, c, c.event())
        assert (first.status_code, live.outcome(first)["status"]) == (202, "scheduled"), (c.name, first.text)
        assert (again.status_code, live.outcome(again)["status"]) == (202, "duplicate"), (c.name, again.text)
        assert len([r for r in survey_rows(live) if r.connector == c.name]) == 1, c.name


# -- reply-back failure contract (was tests/test_reply_contract.py) ----------------------------------


@dataclass(frozen=True)
class Replier:
    name: str
    env: dict[str, str]
    post: Callable[..., httpx.Response]
    event: Callable[[], Any]
    reply_route: Callable[[respx.Router], respx.Route]  # mocks the vendor API, returns the posting route
    what: str  # how nps_bot.plugin.http names the call in errors
    setting: str


REPLIERS = [
    Replier(
        "zendesk",
        h.ZENDESK_ENV,
        h.post_zendesk,
        lambda: h.fixture("zendesk", "trigger_solved.json"),
        lambda r: h.mock_zendesk(r)[1],
        "zendesk comment",
        "NPS_BOT_ZENDESK_REPLY",
    ),
    Replier(
        "freshdesk",
        h.FRESHDESK_ENV,
        h.post_freshdesk,
        lambda: h.fixture("freshdesk", "rule_resolved.json"),
        lambda r: h.mock_freshdesk(r, statuses=(4, 4, 4))["reply"],
        "freshdesk reply",
        "NPS_BOT_FRESHDESK_REPLY",
    ),
    Replier(
        "helpscout",
        h.HELPSCOUT_ENV,
        h.post_helpscout,
        lambda: h.fixture("helpscout", "convo_status_closed.json"),
        lambda r: h.mock_helpscout(r)["reply"],
        "helpscout reply",
        "NPS_BOT_HELPSCOUT_REPLY",
    ),
    Replier(
        "intercom",
        h.INTERCOM_ENV,
        h.post_intercom,
        lambda: h.fixture("intercom", "conversation_admin_closed.json"),
        lambda r: h.mock_intercom(r)["reply"],
        "intercom reply",
        "NPS_BOT_INTERCOM_REPLY",
    ),
    Replier(
        "chatwoot",
        h.CHATWOOT_ENV,
        h.post_chatwoot,
        lambda: h.fixture("chatwoot", "status_changed_resolved.json"),
        h.mock_chatwoot,
        "chatwoot message",
        "NPS_BOT_CHATWOOT_REPLY",
    ),
]
repliers = pytest.mark.parametrize("vendor", REPLIERS, ids=lambda v: v.name)


# Connectors that keep no vendor state in memory (Zendesk caches names, Help Scout names and its access token):
# their tests on the same settings share one app (tests/connectors/conftest.py), tables emptied in between.
STATELESS = frozenset({"freshdesk", "intercom", "chatwoot"})


def replying(
    make_live: Callable[..., Live], vendor: Replier, shared_live: Callable[..., Live] | None = None, **env: str
) -> Live:
    start = shared_live if shared_live is not None and vendor.name in STATELESS else make_live
    live = start(env={**vendor.env, **env}, delivery=["helpdesk"], survey_delay=timedelta(0))
    response = vendor.post(live, vendor.event())
    assert live.outcome(response)["status"] == "scheduled", response.text
    return live


@repliers
@pytest.mark.usefixtures("no_backoff")
def test_rate_limit_that_does_not_lift_goes_back_to_the_schedule(
    make_live: Callable[..., Live], shared_live: Callable[..., Live], vendor: Replier
) -> None:
    live = replying(make_live, vendor, shared_live)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.mock(return_value=httpx.Response(429, headers={"retry-after": "0"}))
        live.worker().run_once()

    assert route.call_count == 3
    [row] = survey_rows(live)
    assert row.state == "scheduled"
    assert f"{vendor.what}: HTTP 429" in row.last_error
    assert row.due_at > live.clock.now()


@repliers
@pytest.mark.usefixtures("no_backoff")
def test_timeouts_are_retried_and_the_survey_is_never_lost(
    make_live: Callable[..., Live], shared_live: Callable[..., Live], vendor: Replier
) -> None:
    live = replying(make_live, vendor, shared_live)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.side_effect = httpx.ReadTimeout("timed out")
        live.worker().run_once()

    assert route.call_count == 3
    [row] = survey_rows(live)
    assert row.state == "scheduled"
    assert f"{vendor.what}: timed out" in row.last_error


@repliers
@pytest.mark.usefixtures("no_backoff")
def test_the_reply_setting_turns_posting_off(make_live: Callable[..., Live], vendor: Replier) -> None:
    live = replying(make_live, vendor, **{vendor.setting: "false"})
    with respx.mock(assert_all_called=False) as router:
        vendor.reply_route(router)
        live.worker().run_once()

    assert [c.request.url.host for c in router.calls if c.request.url.host != "127.0.0.1"] == []
    [row] = survey_rows(live)
    assert row.state == "undeliverable"
    assert vendor.setting in row.reason


@repliers
@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize("status", [401, 404])
def test_vendor_refusal_makes_the_survey_undeliverable(
    make_live: Callable[..., Live], shared_live: Callable[..., Live], vendor: Replier, status: int
) -> None:
    live = replying(make_live, vendor, shared_live)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.mock(return_value=httpx.Response(status, json={"error": "refused"}))
        live.worker().run_once()

    [row] = survey_rows(live)
    assert row.state == "undeliverable"
    assert f"{vendor.what}: HTTP {status}" in row.reason


@repliers
@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize("failure", [429, 502], ids=["rate-limited", "server-error"])
def test_a_passing_failure_is_retried_within_the_call(
    make_live: Callable[..., Live], shared_live: Callable[..., Live], vendor: Replier, failure: int
) -> None:
    live = replying(make_live, vendor, shared_live)
    with respx.mock(assert_all_called=False) as router:
        route = vendor.reply_route(router)
        route.side_effect = [httpx.Response(failure, headers={"retry-after": "0"}), route.return_value]
        live.worker().run_once()

    assert route.call_count == 2
    assert survey_rows(live)[0].state == "sent"
