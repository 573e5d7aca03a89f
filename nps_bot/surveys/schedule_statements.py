"""The statements `SurveyService.schedule` runs for every webhook, compiled once per dialect.

Building a Core statement per call (`.values(**row)`, `.where(...)`) cost most of a webhook's time in
the profile (statement construction and cache-key generation, not the database), and running even a
cached one through `Connection.execute` most of the rest; so each is compiled once per dialect and run
on the driver's cursor with the dialect's own bind processors (nps_bot/store/prepared.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from nps_bot.models import SurveyState
from nps_bot.store.prepared import Prepared
from nps_bot.store.schema import customers, survey_attributes, survey_tags, surveys, unsubscribes, webhook_events

# A survey in one of these states no longer stops the customer being surveyed again.
NOT_THROTTLING = (SurveyState.SUPPRESSED, SurveyState.FAILED, SurveyState.UNDELIVERABLE)


@dataclass(frozen=True, slots=True)
class ScheduleStatements:
    claim_event: Prepared  # INSERT webhook_events ... ON CONFLICT DO NOTHING RETURNING id: the dedup point
    finish_event: Prepared  # UPDATE webhook_events SET outcome, survey_id WHERE id
    checks: Prepared  # one SELECT: the ticket's survey (id, state), unsubscribed?, surveyed recently?
    upsert_customer: Prepared  # INSERT customers ... ON CONFLICT (key) DO UPDATE ... RETURNING id
    insert_survey: Prepared  # INSERT surveys ... ON CONFLICT (connector, ticket_id, kind) DO NOTHING RETURNING id
    insert_tags: Prepared
    insert_attributes: Prepared


# The columns each INSERT is given (all of them: a Prepared statement runs no Python-side defaults).
EVENT_COLUMNS = ("connector", "event_id", "received_at", "outcome")
CUSTOMER_COLUMNS = ("key", "email", "name", "slack_user_id", "language", "created_at", "updated_at")
SURVEY_COLUMNS = (
    "token", "kind", "connector", "ticket_id", "customer_id", "customer_key", "language", "state", "reason",
    "due_at", "expires_at", "attempts", "closed_at", "created_at", "updated_at",
    "reply_context", "ticket_url", "subject", "channel", "team", "agent_id", "agent_name",
)  # fmt: skip


_BUILT: dict[str, ScheduleStatements] = {}


def statements(dialect: Dialect) -> ScheduleStatements:
    """Compiled on first use by a dialect; every engine of that dialect compiles them the same way."""
    built = _BUILT.get(dialect.name)
    if built is None:
        built = _BUILT[dialect.name] = _build(dialect.name, dialect)
    return built


def _build(name: str, dialect: Dialect) -> ScheduleStatements:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(name)
    if insert is None:
        raise NotImplementedError(f"unsupported database dialect {name!r}")

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

    def prepared(statement: Any, keys: tuple[str, ...] | None = None) -> Prepared:
        return Prepared(statement, dialect, keys)

    return ScheduleStatements(
        claim_event=prepared(
            insert(webhook_events)
            .on_conflict_do_nothing(index_elements=["connector", "event_id"])
            .returning(webhook_events.c.id),
            EVENT_COLUMNS,
        ),
        finish_event=prepared(
            webhook_events.update()
            .where(webhook_events.c.id == sa.bindparam("event_row"))
            .values(outcome=sa.bindparam("new_outcome"), survey_id=sa.bindparam("survey_row"))
        ),
        checks=prepared(checks),
        upsert_customer=prepared(upsert_customer, CUSTOMER_COLUMNS),
        insert_survey=prepared(
            insert(surveys)
            .on_conflict_do_nothing(index_elements=["connector", "ticket_id", "kind"])
            .returning(surveys.c.id),
            SURVEY_COLUMNS,
        ),
        insert_tags=prepared(survey_tags.insert(), ("survey_id", "tag")),
        insert_attributes=prepared(survey_attributes.insert(), ("survey_id", "name", "value")),
    )
