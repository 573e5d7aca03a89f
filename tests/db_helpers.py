"""Reading what the app stored, for assertions in HTTP-level tests; and writing answered surveys
straight into the tables, for report tests that need a history the services would take long to make."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.store.schema import responses, survey_attributes, survey_tags, surveys
from tests.conftest import Live


def count(ctx: AppContext, table: sa.Table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def survey_rows(live: Live) -> list[Any]:
    return rows(live, surveys)


def rows(live: Live, table: sa.Table) -> list[Any]:
    """Every row of `table`, in primary-key order (insertion order for the serial ids)."""
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))


def only_survey(live: Live) -> Any:
    """The one survey the test expects; fails when there are none or several."""
    (row,) = rows(live, surveys)
    return row


def tags_of(live: Live, survey_id: int) -> set[str]:
    with live.ctx.engine.connect() as conn:
        return set(conn.execute(sa.select(survey_tags.c.tag).where(survey_tags.c.survey_id == survey_id)).scalars())


def attributes_of(live: Live, survey_id: int) -> dict[str, str]:
    with live.ctx.engine.connect() as conn:
        query = sa.select(survey_attributes.c.name, survey_attributes.c.value).where(
            survey_attributes.c.survey_id == survey_id
        )
        return {name: value for name, value in conn.execute(query)}


def write_survey(
    conn: sa.Connection,
    i: int,
    score: int | None,
    at: datetime,
    *,
    sent_at: datetime | None = None,
    team: str | None = "Billing",
    agent: str = "ana",
    kind: str = "nps",
    comment: str | None = None,
    tags: tuple[str, ...] = (),
    plan: str | None = None,
    customer_id: int | None = None,
) -> int:
    """Survey `i`, sent at `sent_at` (default `at`) and answered with `score` at `at` unless score is
    None, written row by row: no service runs, so the report rollups do not see it (callers decide)."""
    sent = sent_at or at
    state = "sent" if score is None else ("commented" if comment else "answered")
    sid = conn.execute(
        surveys.insert().values(
            token=f"t{i}", kind=kind, connector="generic", ticket_id=str(i), ticket_url=f"https://h/{i}",
            team=team, agent_name=agent, language="en", customer_id=customer_id, state=state,
            due_at=sent, created_at=sent, updated_at=sent, sent_at=sent, attempts=1,
        )
    ).inserted_primary_key[0]  # fmt: skip
    for tag in tags:
        conn.execute(survey_tags.insert().values(survey_id=sid, tag=tag))
    if plan:
        conn.execute(survey_attributes.insert().values(survey_id=sid, name="plan", value=plan))
    if score is not None:
        conn.execute(
            responses.insert().values(
                survey_id=sid, kind=kind, score=score, comment=comment, source="test", created_at=at, updated_at=at
            )
        )
    return int(sid)
