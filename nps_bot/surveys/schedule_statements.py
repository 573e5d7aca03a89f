"""The statements `SurveyService.schedule` runs for every webhook, built once per dialect.

Building a Core statement per call (`.values(**row)`, `.where(...)`) cost most of a webhook's time in
the profile (statement construction and cache-key generation, not the database); a statement object
built once memoises its cache key, so each call only binds parameters to an already compiled form.
Parameters are passed at execution (`conn.execute(stmt, {...})`), with the columns' own types.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nps_bot.models import SurveyState
from nps_bot.store.schema import customers, survey_attributes, survey_tags, surveys, unsubscribes, webhook_events

# A survey in one of these states no longer stops the customer being surveyed again.
NOT_THROTTLING = (SurveyState.SUPPRESSED, SurveyState.FAILED, SurveyState.UNDELIVERABLE)


@dataclass(frozen=True, slots=True)
class ScheduleStatements:
    claim_event: Any  # INSERT webhook_events ... ON CONFLICT DO NOTHING RETURNING id: the dedup point
    finish_event: Any  # UPDATE webhook_events SET outcome, survey_id WHERE id
    checks: Any  # one SELECT: the ticket's survey (id, state), unsubscribed?, surveyed recently?
    upsert_customer: Any  # INSERT customers ... ON CONFLICT (key) DO UPDATE ... RETURNING id
    insert_survey: Any  # INSERT surveys ... ON CONFLICT (connector, ticket_id, kind) DO NOTHING RETURNING id
    insert_tags: Any
    insert_attributes: Any


def statements(dialect: str) -> ScheduleStatements:
    return _build(dialect)


@functools.cache
def _build(dialect: str) -> ScheduleStatements:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")

    ticket = sa.and_(
        surveys.c.connector == sa.bindparam("connector"),
        surveys.c.ticket_id == sa.bindparam("ticket_id"),
        surveys.c.kind == sa.bindparam("kind"),
    )
    checks = sa.select(
        sa.select(surveys.c.id).where(ticket).scalar_subquery().label("existing_id"),
        sa.select(surveys.c.state).where(ticket).scalar_subquery().label("existing_state"),
        sa.exists().where(unsubscribes.c.email == sa.bindparam("email")).label("unsubscribed"),
        sa.exists()
        .where(
            surveys.c.customer_key == sa.bindparam("customer_key"),
            surveys.c.created_at >= sa.bindparam("since"),
            # Constants, not an expanding IN: that one is re-rendered on every execution.
            *(surveys.c.state != sa.literal_column(f"'{s.value}'") for s in NOT_THROTTLING),
        )
        .label("throttled"),
    )

    upsert = insert(customers)
    excluded = upsert.excluded
    upsert_customer = upsert.on_conflict_do_update(
        index_elements=["key"],
        # Newer facts win, but a missing value never erases a known one.
        set_={
            "email": sa.func.coalesce(excluded.email, customers.c.email),
            "name": sa.func.coalesce(excluded.name, customers.c.name),
            "slack_user_id": sa.func.coalesce(excluded.slack_user_id, customers.c.slack_user_id),
            "language": sa.func.coalesce(excluded.language, customers.c.language),
            "updated_at": excluded.updated_at,
        },
    ).returning(customers.c.id)

    return ScheduleStatements(
        claim_event=insert(webhook_events)
        .on_conflict_do_nothing(index_elements=["connector", "event_id"])
        .returning(webhook_events.c.id),
        finish_event=webhook_events.update()
        .where(webhook_events.c.id == sa.bindparam("event_row"))
        .values(outcome=sa.bindparam("new_outcome"), survey_id=sa.bindparam("survey_row")),
        checks=checks,
        upsert_customer=upsert_customer,
        insert_survey=insert(surveys)
        .on_conflict_do_nothing(index_elements=["connector", "ticket_id", "kind"])
        .returning(surveys.c.id),
        insert_tags=survey_tags.insert(),
        insert_attributes=survey_attributes.insert(),
    )
