"""Freshdesk end to end (real app over HTTP, database): scheduling, duplicates, hold on re-open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nps_bot.store.schema import customers
from tests.conftest import Live
from tests.connectors.helpers import FRESHDESK_ENV, fixture, post_freshdesk
from tests.db_helpers import attributes_of, tags_of
from tests.db_helpers import survey_rows as rows


@pytest.fixture
def live(shared_live: Callable[..., Live]) -> Live:
    return shared_live(env=FRESHDESK_ENV)  # one app per module: tests/connectors/conftest.py


def test_resolved_rule_schedules_and_stores_the_survey(live: Live) -> None:
    response = post_freshdesk(live, fixture("freshdesk", "rule_resolved.json"))

    assert response.status_code == 202, response.text
    assert live.outcome(response)["status"] == "scheduled"
    [row] = rows(live)
    assert (row.connector, row.ticket_id, row.state, row.language) == ("freshdesk", "4821", "scheduled", "lt")
    assert row.agent_name == "Ona Petraitė"
    assert tags_of(live, row.id) == {"billing", "vat"}
    assert attributes_of(live, row.id) == {
        "plan": "pro",
        "company": "UAB Pavyzdys",
        "ticket_type": "Question",
        "language": "lt",
    }
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.email)).scalar_one() == "ruta@example.com"


def test_duplicate_delivery_makes_one_survey(live: Live) -> None:
    body = fixture("freshdesk", "rule_resolved.json")

    assert live.outcome(post_freshdesk(live, body))["status"] == "scheduled"
    second = post_freshdesk(live, body)

    assert second.status_code == 202
    assert live.outcome(second)["status"] == "duplicate"
    assert len(rows(live)) == 1


def test_reopen_before_send_holds_then_next_resolve_reschedules(live: Live) -> None:
    assert live.outcome(post_freshdesk(live, fixture("freshdesk", "rule_resolved.json")))["status"] == "scheduled"
    assert live.outcome(post_freshdesk(live, fixture("freshdesk", "rule_reopened.json")))["status"] == "on_hold"
    assert rows(live)[0].state == "on_hold"

    live.clock.advance(timedelta(minutes=10))
    again = fixture("freshdesk", "rule_resolved.json")
    again["ticket"]["updated_at"] = "2026-11-20T10:09:00Z"
    assert live.outcome(post_freshdesk(live, again))["status"] == "rescheduled"

    [row] = rows(live)
    assert row.state == "scheduled"
    assert row.due_at.isoformat() == "2026-11-20T11:09:00+00:00"
