"""Reading what the app stored, for assertions in HTTP-level tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from nps_bot.store.schema import survey_attributes, survey_tags, surveys
from tests.conftest import Live


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
