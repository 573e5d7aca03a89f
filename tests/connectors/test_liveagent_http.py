"""LiveAgent end to end: what the service does with a rule's "HTTP request" (real app over HTTP, database).

What `verify`/`parse` make of a body (JSON or form, status letters and words, channels, `{$...}` variables,
dates, tokens) is in test_liveagent_parse.py; here only storing, refusing without storing, duplicates and the
hold on re-open. The app is shared by the module (tests/connectors/conftest.py: tables emptied between tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx

from nps_bot.store.schema import survey_attributes, survey_tags, surveys, webhook_events
from tests.conftest import Live
from tests.connectors.helpers import FIXTURES, fixture, post_liveagent
from tests.connectors.helpers import LIVEAGENT_ENV as ENV
from tests.db_helpers import only_survey as survey
from tests.db_helpers import rows

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def live(shared_live: Callable[..., Live]) -> Live:
    return shared_live(env=ENV)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """No call leaves the machine unnoticed: anything but the app itself is an unmatched route."""
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


FORM = (FIXTURES / "liveagent" / "rule_resolved.form.txt").read_bytes().strip()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(fixture("liveagent", "rule_resolved.json"), "application/json", id="json"),
        pytest.param(FORM, "application/x-www-form-urlencoded", id="form"),
        pytest.param(FORM, "text/plain", id="form-sent-as-text-plain"),
    ],
)
def test_resolved_ticket_schedules_a_survey_with_every_field_stored(live: Live, body: Any, content_type: str) -> None:
    response = post_liveagent(live, body, headers={"content-type": content_type})
    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
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
    (event,) = rows(live, webhook_events)
    assert event.event_id == "a9f3c2d1:R:2026-11-20T09:55:00+00:00"


@pytest.mark.parametrize(
    ("token", "reason"),
    [("wrong-token", "does not match"), (None, "missing token"), ("", "missing token")],
)
def test_bad_token_is_401_and_nothing_stored(live: Live, token: str | None, reason: str) -> None:
    response = post_liveagent(live, fixture("liveagent", "rule_resolved.json"), token=token)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert rows(live, surveys) == []
    assert rows(live, webhook_events) == []


def test_bad_payloads_are_400_with_the_reason_and_nothing_stored(live: Live) -> None:
    assert post_liveagent(live, b'{"ticket_id": "a9f3c2d1", ').status_code == 400
    assert post_liveagent(live, b"[1, 2]").json()["error"] == "body must be a JSON object"
    unexpanded = post_liveagent(live, fixture("liveagent", "rule_unexpanded.json"))
    assert unexpanded.status_code == 400
    assert "contact_email" in unexpanded.json()["error"]
    assert rows(live, surveys) == []
    assert rows(live, webhook_events) == []


def test_other_statuses_are_202_ignored_and_nothing_stored(live: Live) -> None:
    response = post_liveagent(live, fixture("liveagent", "rule_postponed.json"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "ignored",
        "reason": "ticket status 'postponed' is not resolved, closed or re-opened",
    }
    assert rows(live, surveys) == []


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    first = post_liveagent(live, fixture("liveagent", "rule_resolved.json"))
    again = post_liveagent(live, fixture("liveagent", "rule_resolved.json"))
    assert live.outcome(first)["status"] == "scheduled"
    assert again.status_code == 202
    assert live.outcome(again)["status"] == "duplicate"
    assert len(rows(live, surveys)) == 1


def test_reopen_before_send_holds_then_next_close_reschedules(live: Live, router: respx.MockRouter) -> None:
    assert live.outcome(post_liveagent(live, fixture("liveagent", "rule_resolved.json")))["status"] == "scheduled"
    reopened = post_liveagent(live, fixture("liveagent", "rule_reopened.json"))
    assert live.outcome(reopened)["status"] == "on_hold"
    assert survey(live).state == "on_hold"
    live.clock.advance(timedelta(hours=2))
    assert live.worker().run_once() == 0, "a survey on hold is not sent"
    closed_again = fixture("liveagent", "rule_resolved.json") | {"changed_at": "2026-11-20 12:30:00"}
    response = post_liveagent(live, closed_again)
    assert live.outcome(response)["status"] == "rescheduled"
    row = survey(live)
    assert row.state == "scheduled"
    assert row.closed_at == datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    assert len(rows(live, surveys)) == 1
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    assert survey(live).state == "sent"
