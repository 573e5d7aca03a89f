"""The OpenAPI document of the public HTTP API (manifests/openapi.yaml), checked and used.

The document must be valid OpenAPI and name every route the app serves (all integrations loaded), and
nothing the app does not serve. Then schemathesis fuzzes every documented operation against the real app
on 127.0.0.1, from the document alone: schema-valid and schema-invalid requests, a fixed number of
examples per operation with a fixed seed, so a run is the same every time. Every answer must be a
documented status with a documented content type and body, never a 5xx, and no unauthenticated or
invalid request may store a row. The generic webhook is fuzzed a second time with every request signed,
so its body validation is exercised, not only its signature check. The request count and the status
histogram are printed at the end of the module (`-s`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import ignored_auth, missing_required_header
from slack_sdk.signature import SignatureVerifier
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrations.generic.payloads import AgentBody, CustomerBody, GenericBody, TicketBody
from nps_bot.app import AppContext
from nps_bot.clock import ManualClock
from nps_bot.config import Settings
from nps_bot.plugin import signing
from nps_bot.server import BackgroundServer
from nps_bot.store.schema import responses, surveys, unsubscribes, webhook_events
from nps_bot.web import create_app
from tests.connectors import helpers as h
from tests.support.app import GENERIC_SECRET

SPEC = Path(__file__).resolve().parents[1] / "manifests" / "openapi.yaml"
DOCUMENT: dict[str, Any] = yaml.safe_load(SPEC.read_text())
# Per operation and generation mode (schema-valid, schema-invalid), on top of the document's examples and
# schemathesis's boundary cases ("coverage" phase). Deterministic: the same requests on every run.
EXAMPLES = 20
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261128,
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True},
        # Unsigned, the generic webhook's body is never read (the signature is checked first): its few hundred
        # boundary bodies are sent signed, by test_signed_generic_webhooks, where they reach the parser.
        "operations": [{"include-operation-id": "genericWebhook", "phases": {"coverage": {"enabled": False}}}],
    }
)
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)
# Signed below, so the signature header is not one of the generated (or removed) parameters.
SIGNED_CONFIG = schemathesis.Config.from_dict(
    {"seed": 20261128, "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True,
                                      "with-security-parameters": False}}
)  # fmt: skip
signed_schema = schemathesis.openapi.from_path(SPEC, config=SIGNED_CONFIG).include(operation_id="genericWebhook")

STORED = (surveys, responses, webhook_events, unsubscribes)  # what no refused request may add to
STATUSES: Counter[str] = Counter()  # "<run> <status>" -> responses the server gave
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

ENV = {
    **h.ZENDESK_ENV, **h.FRESHDESK_ENV, **h.HELPSCOUT_ENV, **h.INTERCOM_ENV, **h.CHATWOOT_ENV,
    **h.LIVEAGENT_ENV, **h.NICEREPLY_ENV, "NPS_BOT_GENERIC_SECRET": GENERIC_SECRET,
    "SLACK_SIGNING_SECRET": "openapi-signing-secret", "SLACK_BOT_TOKEN": "xoxb-openapi",
    "NPS_BOT_SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: no Slack request is signed right
    "NPS_BOT_SECRET_KEY": "openapi-secret-key",  # unsubscribe and template links can be checked (and refused)
}  # fmt: skip


class StatusCounter:
    """ASGI middleware counting every answer by status, schemathesis's extra requests (its checks resend
    some cases without credentials or with other methods) included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.run = "other"  # the test that is asking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                STATUSES[f"{self.run} {message['status']}"] += 1
            await send(message)

        await self.app(scope, receive, counted if scope["type"] == "http" else send)


@dataclass
class App:
    ctx: AppContext
    url: str
    session: requests.Session
    counter: StatusCounter

    def rows(self) -> dict[str, int]:
        with self.ctx.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in STORED}


@contextlib.contextmanager
def _serve(database_url: str) -> Iterator[App]:
    """The real app, every integration configured, served on 127.0.0.1 through the status counter."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        settings = Settings(database_url=database_url, embedded_worker=False)
        ctx = AppContext.build(settings, clock=ManualClock(h.NOW))
    counter = StatusCounter(create_app(ctx))
    try:
        with BackgroundServer(counter) as server, requests.Session() as session:  # type: ignore[arg-type]
            yield App(ctx, server.url, session, counter)
    finally:
        ctx.engine.dispose()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with _serve(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'nps.db'}") as served:
        yield served
    print(f"\nrequests served: {sum(STATUSES.values())}; by run and status: {dict(sorted(STATUSES.items()))}")


@pytest.fixture
def fresh_app(any_db_url: str, app: App) -> Iterator[App]:
    """A new app on SQLite and on PostgreSQL (NUL characters, lengths and integer ranges differ). It asks for
    `app` only so that the module's summary line, printed when `app` ends, counts these runs too."""
    with _serve(any_db_url) as served:
        yield served


class SignGeneric(requests.auth.AuthBase):
    """Signs the body exactly as sent (after requests has serialised it), as a real sender does."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        assert isinstance(raw, bytes)
        request.headers[signing.HEADER] = signing.sign(GENERIC_SECRET, raw, int(h.NOW.timestamp()))
        return request


# -- the document ---------------------------------------------------------------------------------


def test_the_document_is_valid_openapi() -> None:
    validate(DOCUMENT)  # raises with the first error
    assert DOCUMENT["openapi"].startswith("3.1")


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in HTTP_METHODS
    }


def test_every_route_of_the_app_is_documented_and_nothing_else(app: App) -> None:
    installed = {entry.name for entry in entry_points(group="nps_bot.integrations")}
    assert set(app.ctx.integrations) == installed  # every integration loaded, so every route of theirs is here
    starlette = create_app(app.ctx)
    served: set[tuple[str, str]] = set()
    for route in starlette.routes:
        assert isinstance(route, Route), f"{route!r}: only plain routes are expected (document mounts by hand)"
        served |= {(m, route.path) for m in route.methods or () if m != "HEAD"}  # Starlette adds HEAD to GET
    documented = _documented()
    assert served - documented == set(), "routes missing from manifests/openapi.yaml"
    # A documented path may be a special case of a served template (/webhooks/generic of /webhooks/{connector}).
    for method, path in documented:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert any(
            method in (r.methods or ()) and r.path_regex.fullmatch(concrete)
            for r in starlette.routes
            if isinstance(r, Route)
        ), f"{method} {path} is documented but not served"


@pytest.mark.parametrize(
    ("name", "model"),
    [("GenericEvent", GenericBody), ("GenericTicket", TicketBody), ("GenericCustomer", CustomerBody),
     ("GenericAgent", AgentBody)],
)  # fmt: skip
def test_the_generic_body_schema_names_the_models_fields(name: str, model: type[Any]) -> None:
    documented = DOCUMENT["components"]["schemas"][name]
    assert set(documented["properties"]) == set(model.model_fields)
    required = {field for field, info in model.model_fields.items() if info.is_required()}
    assert set(documented.get("required", ())) == required


# -- the fuzzing ------------------------------------------------------------------------------------


@schema.parametrize()
def test_every_operation_without_credentials(case: schemathesis.Case, app: App) -> None:
    """Nobody here holds a secret, a token or a signed link: no request may store anything."""
    app.counter.run = "unauthenticated"
    before = app.rows()
    response = case.call_and_validate(base_url=app.url, session=app.session)
    assert response.status_code < 500
    if case.method == "POST" and case.path.startswith("/webhooks/"):
        assert response.status_code in (400, 401, 404, 413), response.text[:300]
    assert app.rows() == before, f"{case.method} {case.formatted_path} stored rows"


@signed_schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one app for all the examples, on purpose
def test_signed_generic_webhooks(case: schemathesis.Case, fresh_app: App) -> None:
    """Correctly signed: a valid body is accepted (202), an invalid one refused (4xx) with nothing stored."""
    app = fresh_app
    app.counter.run = f"signed ({app.ctx.engine.dialect.name})"
    before = app.rows()
    # Leaving the signature out is the unauthenticated run's business; here every request carries one.
    unsigned_checks = [missing_required_header, ignored_auth]
    response = case.call_and_validate(
        base_url=app.url, session=app.session, auth=SignGeneric(), excluded_checks=unsigned_checks
    )
    assert response.status_code != 401, response.text[:300]  # the signature itself is always right
    assert case.meta is not None
    if case.meta.generation.mode.is_negative or response.status_code >= 400:
        assert app.rows() == before, f"a refused webhook ({response.status_code}) stored rows"


# -- what the fuzzing found -------------------------------------------------------------------------


def _slack_post(app: App, body: bytes, *, timestamp: str, signature: str, content_type: str) -> requests.Response:
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": content_type}
    app.counter.run = "regression"
    return app.session.post(f"{app.url}/slack/events", data=body, headers=headers)


def test_unsigned_junk_for_slack_is_a_401_not_a_500(app: App) -> None:
    """Bolt parses a body before checking its signature: "\\x00" sent as JSON was a 500 (schemathesis found it)."""
    for body in (b"\x00", b"{", b"payload=%7B", b"[1]"):
        response = _slack_post(app, body, timestamp="0", signature="v0=", content_type="application/json")
        assert response.status_code == 401, (body, response.status_code, response.text)


def test_signed_bodies_bolt_cannot_read_are_a_400(app: App) -> None:
    secret = ENV["SLACK_SIGNING_SECRET"]
    for body, content_type in (
        ("\x00", "application/json"),
        ("{not json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded"),  # payload=[1]: JSON, but not an object
        ("[1, 2]", "application/json; charset=utf-8"),
    ):
        ts = str(int(time.time()))  # Slack's signatures are checked against the real time, as Bolt does
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        response = _slack_post(app, body.encode(), timestamp=ts, signature=signature, content_type=content_type)
        assert response.status_code == 400, (body, response.status_code, response.text)


@pytest.mark.parametrize("where", ["ticket", "customer", "agent"])
@pytest.mark.parametrize("value", [True, False, 1.0])
def test_a_generic_id_that_is_not_text_or_a_whole_number_is_refused(app: App, where: str, value: object) -> None:
    """`"id": true` was taken as ticket (or customer, agent) "1": a survey for another ticket (found by the fuzzer)."""
    body = {
        "event": "ticket.closed",
        "id": f"evt-odd-id-{where}-{value!r}",
        "ticket": {"id": "T-odd"},
        "customer": {"email": "odd@example.com"},
        "agent": {"name": "Jonas"},
    }
    body[where] = {**body[where], "id": value}  # type: ignore[dict-item]
    raw = json.dumps(body).encode()
    app.counter.run = "regression"
    before = app.rows()
    response = app.session.post(f"{app.url}/webhooks/generic", data=raw, headers=h.generic_headers(raw))
    assert response.status_code == 400, response.text
    assert f"{where}.id" in response.json()["error"]
    assert app.rows() == before


@pytest.mark.parametrize("path", ["/s/some-token", "/unsubscribe/some-token"])
def test_a_wrong_method_is_answered_with_every_allowed_one(app: App, path: str) -> None:
    """Two routes for one path made Starlette's 405 say `Allow: GET, HEAD` where POST works too (schemathesis)."""
    app.counter.run = "regression"
    response = app.session.request("OPTIONS", f"{app.url}{path}")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert app.session.head(f"{app.url}{path}").status_code == 404  # HEAD is GET without the page
