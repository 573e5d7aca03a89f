"""LiveAgent end to end: rule "HTTP request" -> token check -> survey stored (real app over HTTP, database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa

from nps_bot.store.schema import survey_attributes, survey_tags, surveys, webhook_events
from tests.conftest import Live
from tests.connectors.helpers import FIXTURES as _FIXTURES
from tests.connectors.helpers import LIVEAGENT_ENV as ENV
from tests.connectors.helpers import LIVEAGENT_SECRET as SECRET
from tests.connectors.helpers import fixture, post_liveagent

FIXTURES = _FIXTURES / "liveagent"


pytestmark = pytest.mark.usefixtures("no_backoff")


def rows(live: Live, table: sa.Table) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def survey(live: Live) -> Any:
    (row,) = rows(live, surveys)
    return row


@pytest.fixture
def live(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV)


@pytest.fixture
def sending(make_live: Callable[..., Live]) -> Live:
    return make_live(env=ENV, delivery=["helpdesk"], survey_delay=timedelta(0))


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


def assert_scheduled_with_fields(live: Live, response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    row = survey(live)
    assert (row.connector, row.ticket_id, row.kind) == ("liveagent", "a9f3c2d1", "nps")
    assert (row.agent_id, row.agent_name) == ("7c1e9b02", "Ona Petraitė")
    assert (row.team, row.channel, row.subject) == ("Billing", "email", "Invoice shows the wrong VAT")
    assert row.language == "lt"
    assert row.closed_at == datetime(2026, 11, 20, 9, 55, tzinfo=UTC)
    assert row.reply_context == {
        "ticket_id": "a9f3c2d1",
        "conversation_id": "a9f3c2d1",
        "ticket_code": "KQR-GHT-418",
        "status": "R",
    }
    assert sorted(t.tag for t in rows(live, survey_tags)) == ["billing", "vat"]
    assert {a.name: a.value for a in rows(live, survey_attributes)} == {"plan": "pro", "language": "lt"}
    assert row.customer_key == "email:ruta@example.com"


def test_resolved_ticket_schedules_a_survey(live: Live) -> None:
    assert_scheduled_with_fields(live, post_liveagent(live, fixture("liveagent", "rule_resolved.json")))
    (event,) = rows(live, webhook_events)
    assert event.event_id == "a9f3c2d1:R:2026-11-20T09:55:00+00:00"


def test_form_encoded_body_is_accepted(live: Live) -> None:
    raw = (FIXTURES / "rule_resolved.form.txt").read_bytes().strip()
    response = post_liveagent(live, raw, headers={"content-type": "application/x-www-form-urlencoded"})
    assert_scheduled_with_fields(live, response)


def test_token_in_a_header_and_status_words(live: Live) -> None:
    body = fixture("liveagent", "rule_resolved.json") | {"status": "Closed", "channel": "B"}
    response = post_liveagent(live, body, token=None, headers={"X-NPS-Bot-Token": SECRET})
    assert response.status_code == 202
    row = survey(live)
    assert row.channel == "chat"
    assert row.reply_context["status"] == "L"


@pytest.mark.parametrize(
    ("token", "reason"),
    [("wrong-token", "does not match"), (None, "missing token"), ("", "missing token")],
)
def test_bad_token_is_refused_and_nothing_stored(live: Live, token: str | None, reason: str) -> None:
    response = post_liveagent(live, fixture("liveagent", "rule_resolved.json"), token=token)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert rows(live, surveys) == []
    assert rows(live, webhook_events) == []


def test_missing_secret_config_refuses_everything(make_live: Callable[..., Live]) -> None:
    live = make_live(env={k: v for k, v in ENV.items() if k != "NPS_BOT_LIVEAGENT_SECRET"})
    response = post_liveagent(live, fixture("liveagent", "rule_resolved.json"))
    assert response.status_code == 401
    assert "NPS_BOT_LIVEAGENT_SECRET" in response.json()["error"]
    assert rows(live, surveys) == []


def test_malformed_bodies_are_400(live: Live) -> None:
    assert post_liveagent(live, b'{"ticket_id": "a9f3c2d1", ').status_code == 400
    assert post_liveagent(live, b"[1, 2]").json()["error"] == "body must be a JSON object"
    missing = post_liveagent(live, {"status": "R"})
    assert missing.status_code == 400
    assert "ticket_id" in missing.json()["error"]
    bad_date = post_liveagent(live, fixture("liveagent", "rule_resolved.json") | {"changed_at": "yesterday"})
    assert bad_date.status_code == 400
    assert "changed_at" in bad_date.json()["error"]
    bad_email = post_liveagent(live, fixture("liveagent", "rule_resolved.json") | {"contact_email": "not-an-address"})
    assert bad_email.status_code == 400
    assert "email" in bad_email.json()["error"]
    assert rows(live, surveys) == []


def test_unexpanded_placeholders_are_named(live: Live) -> None:
    response = post_liveagent(live, fixture("liveagent", "rule_unexpanded.json"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "contact_email" in error and "custom_fields.plan" in error
    assert "{$" not in error, "the reason names fields, it does not echo values"
    form = post_liveagent(
        live,
        b"ticket_id=a9f3c2d1&status=R&contact_email=%7B%24contact_email%7D",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400
    assert "contact_email" in form.json()["error"]
    assert rows(live, surveys) == []


def test_other_statuses_are_ignored(live: Live) -> None:
    response = post_liveagent(live, fixture("liveagent", "rule_postponed.json"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "ignored",
        "reason": "ticket status 'postponed' is not resolved, closed or re-opened",
    }
    assert (
        post_liveagent(live, fixture("liveagent", "rule_resolved.json") | {"status": "B"}).json()["status"] == "ignored"
    )
    assert rows(live, surveys) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    first = post_liveagent(live, fixture("liveagent", "rule_resolved.json"))
    again = post_liveagent(live, fixture("liveagent", "rule_resolved.json"))
    assert first.json()["status"] == "scheduled"
    assert again.status_code == 202
    assert again.json()["status"] == "duplicate"
    assert len(rows(live, surveys)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live, router: respx.MockRouter) -> None:
    assert post_liveagent(live, fixture("liveagent", "rule_resolved.json")).json()["status"] == "scheduled"
    reopened = post_liveagent(live, fixture("liveagent", "rule_reopened.json"))
    assert reopened.json()["status"] == "on_hold"
    assert survey(live).state == "on_hold"
    live.clock.advance(timedelta(hours=2))
    assert live.worker().run_once() == 0, "a survey on hold is not sent"
    closed_again = fixture("liveagent", "rule_resolved.json") | {"changed_at": "2026-11-20 12:30:00"}
    response = post_liveagent(live, closed_again)
    assert response.json()["status"] == "rescheduled"
    row = survey(live)
    assert row.state == "scheduled"
    assert row.closed_at == datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    assert len(rows(live, surveys)) == 1
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    assert survey(live).state == "sent"


def test_form_body_without_a_content_type_is_sniffed(live: Live) -> None:
    raw = (FIXTURES / "rule_resolved.form.txt").read_bytes().strip()
    response = live.http.post(
        f"/webhooks/liveagent?token={SECRET}", content=raw, headers={"content-type": "text/plain"}
    )
    assert_scheduled_with_fields(live, response)
