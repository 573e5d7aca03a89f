"""Fuzzing every public endpoint over HTTP: whatever the bytes, headers and query, the answer is never
a 5xx, and nothing unauthenticated is ever accepted.

For each connector the fuzzer sends (a) the vendor's own fixture with random parts replaced by random
JSON, signed or tokened exactly as the vendor would, so the parser itself is exercised with garbage,
(b) random bytes with a valid signature, and (c) random headers (non-ASCII, odd digits, empty) that
are not a valid signature. Also the hosted survey page and Slack's endpoint. A fixed example budget
keeps the run bounded; the status histogram is printed with `-s`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.server import BackgroundServer
from nps_bot.web import create_app
from tests.connectors import helpers as h
from tests.support.app import GENERIC_SECRET

EXAMPLES = 60  # per connector and mode: ~1,700 requests in all
STATUSES: Counter[int] = Counter()

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["", "²", "¹⁰", "9999-12-31T23:59:59Z", "0001-01-01", "{{ticket.id}}", "{$ticket_id}", "\x00"]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# What an HTTP client can put in a header: no control characters; non-ASCII goes out as UTF-8 bytes.
odd_header = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=60).map(str.strip)

# connector -> (fixture of a closing event, how the vendor authenticates the raw body)
SIGNED: dict[str, tuple[tuple[str, str], Callable[[bytes], dict[str, str]], str]] = {
    "zendesk": (("zendesk", "event_status_changed_solved.json"), h.zendesk_headers, ""),
    "freshdesk": (("freshdesk", "rule_resolved.json"), h.freshdesk_headers, ""),
    "helpscout": (("helpscout", "convo_status_closed.json"), h.helpscout_headers, ""),
    "intercom": (("intercom", "conversation_admin_closed.json"), h.intercom_headers, ""),
    "chatwoot": (("chatwoot", "status_changed_resolved.json"), h.chatwoot_headers, ""),
    "liveagent": (("liveagent", "rule_resolved.json"), lambda raw: {"content-type": "application/json"},
                  f"?token={h.LIVEAGENT_SECRET}"),
    "nicereply": (("nicereply", "rating_nps.json"), lambda raw: {"content-type": "application/json"},
                  f"?token={h.NICEREPLY_SECRET}"),
    "generic": (("", ""), lambda raw: h.generic_headers(raw, secret=GENERIC_SECRET), ""),
}  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    env = {
        **h.ZENDESK_ENV, **h.FRESHDESK_ENV, **h.HELPSCOUT_ENV, **h.INTERCOM_ENV, **h.CHATWOOT_ENV,
        **h.LIVEAGENT_ENV, **h.NICEREPLY_ENV, "NPS_BOT_GENERIC_SECRET": GENERIC_SECRET,
        "SLACK_SIGNING_SECRET": "fuzz-signing-secret", "SLACK_BOT_TOKEN": "xoxb-fuzz",
        "NPS_BOT_SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: nothing is signed right
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        db = tmp_path_factory.mktemp("fuzz") / "nps.db"
        ctx = AppContext.build(
            Settings(database_url=f"sqlite:///{db}", embedded_worker=False), clock=ManualClock(h.NOW)
        )
        with BackgroundServer(create_app(ctx)) as server, httpx.Client(base_url=server.url, timeout=10) as http:
            yield http
        ctx.engine.dispose()
    print(f"\nfuzzed requests: {sum(STATUSES.values())}; statuses: {dict(sorted(STATUSES.items()))}")


def _send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    response = client.request(method, url, **kwargs)
    STATUSES[response.status_code] += 1
    assert response.status_code < 500, (method, url, response.status_code, response.text[:300])
    return response


def _mutate(data: Any, path: list[int], value: Any) -> Any:
    """Replace the part of `data` that `path` picks (indices wrap) with `value`."""
    if not path or not isinstance(data, dict | list) or not data:
        return value
    if isinstance(data, dict):
        key = sorted(data)[path[0] % len(data)]
        return {**data, key: _mutate(data[key], path[1:], value)}
    i = path[0] % len(data)
    return [*data[:i], _mutate(data[i], path[1:], value), *data[i + 1 :]]


def _base(connector: str) -> Any:
    vendor, name = SIGNED[connector][0]
    return h.fixture(vendor, name) if vendor else h.raw_of({"event": "ticket.closed", "id": "e", "ticket": {"id": "1"}})


fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("connector", sorted(SIGNED))
def test_authenticated_garbage_is_a_4xx_or_ignored(client: httpx.Client, connector: str) -> None:
    base = _base(connector)
    base = json.loads(base) if isinstance(base, bytes) else base
    _, headers_for, query = SIGNED[connector]

    @fuzz
    @given(st.lists(st.integers(0, 50), max_size=4), json_value)
    def mutated_fixture(path: list[int], value: Any) -> None:
        raw = json.dumps(_mutate(base, path, value)).encode()
        _send(client, "POST", f"/webhooks/{connector}{query}", content=raw, headers=headers_for(raw))

    @fuzz
    @given(st.binary(max_size=3000))
    def signed_bytes(raw: bytes) -> None:
        _send(client, "POST", f"/webhooks/{connector}{query}", content=raw, headers=headers_for(raw))

    mutated_fixture()
    signed_bytes()


@pytest.mark.parametrize("connector", sorted(SIGNED))
def test_unauthenticated_requests_are_refused(client: httpx.Client, connector: str) -> None:
    raw = h.raw_of(_base(connector))
    signed = SIGNED[connector][1](raw)

    @fuzz
    @given(st.dictionaries(st.sampled_from([*sorted(signed), "x-nps-token", "x-nps-bot-token"]), odd_header))
    def forged(headers: dict[str, str]) -> None:
        if any(headers.get(k) == v for k, v in signed.items() if "sig" in k or "token" in k):
            return  # the fuzzer guessed a real signature: not a forgery
        raw_headers = {k: v.encode() for k, v in headers.items()}  # non-ASCII goes out as UTF-8 bytes
        response = _send(client, "POST", f"/webhooks/{connector}", content=raw, headers=raw_headers)
        assert response.status_code in (400, 401, 413), response.text

    forged()


def test_hosted_page_and_slack_endpoint(client: httpx.Client) -> None:
    token = st.text(st.characters(blacklist_categories=["Cs"]), max_size=50).map(lambda s: "/s/" + quote(s, safe=""))

    @fuzz
    @given(token, st.dictionaries(st.sampled_from(["score", "comment", "x"]), st.text(max_size=30), max_size=3))
    def page(path: str, form: dict[str, str]) -> None:
        _send(client, "GET", path, params=form)
        _send(client, "POST", path, data=form)
        _send(client, "POST", f"{path}/comment", data=form)

    @fuzz
    @given(st.binary(max_size=2000), st.dictionaries(st.sampled_from(["x-slack-signature", "x-slack-request-timestamp",
                                                                       "content-type"]), odd_header))  # fmt: skip
    def slack(raw: bytes, headers: dict[str, str]) -> None:
        raw_headers = {k: v.encode() for k, v in headers.items()}
        response = _send(client, "POST", "/slack/events", content=raw, headers=raw_headers)
        assert response.status_code in (400, 401, 403, 404, 413, 415), response.text

    page()
    slack()
