"""Answers as CSV: one row per answer in a period (exports are rows, not aggregates).

Any front end (the Slack `/nps export` command, a future web download) asks for the bytes here;
the SQL stays in the core.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from nps_bot.reporting.periods import Period
from nps_bot.reporting.queries import group_bounds
from nps_bot.reporting.scoring import Group
from nps_bot.store.schema import customers, responses, survey_tags, surveys

EXPORT_COLUMNS = (
    "answered_at", "score", "group", "comment", "kind", "connector", "ticket_id", "ticket_url", "agent", "team",
    "channel", "tags", "language", "customer_name", "customer_email",
)  # fmt: skip


def _query(engine: Engine, period: Period) -> sa.Select[Any]:
    tags = (
        sa.select(sa.func.group_concat(survey_tags.c.tag) if engine.dialect.name == "sqlite"
                  else sa.func.string_agg(survey_tags.c.tag, sa.literal(",")))
        .where(survey_tags.c.survey_id == surveys.c.id)
        .scalar_subquery()
    )  # fmt: skip
    return (
        sa.select(
            responses.c.created_at, responses.c.score, responses.c.comment, responses.c.kind, surveys.c.connector,
            surveys.c.ticket_id, surveys.c.ticket_url, surveys.c.agent_name, surveys.c.team, surveys.c.channel,
            tags.label("tags"), surveys.c.language, customers.c.name, customers.c.email,
        )
        .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id)
                     .outerjoin(customers, customers.c.id == surveys.c.customer_id))
        .where(responses.c.created_at >= period.start, responses.c.created_at < period.end)
        .order_by(responses.c.created_at)
    )  # fmt: skip


# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, prefixed with ' so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def group(kind: str, score: int) -> Group:
    """detractor / passive / promoter: NPS groups, and for CSAT and CES the same three bands the
    follow-up questions and `/nps comments detractors` use."""
    detractor_max, promoter_min = group_bounds(kind)
    if score <= detractor_max:
        return "detractor"
    return "promoter" if score >= promoter_min else "passive"


def export_rows(engine: Engine, period: Period) -> Iterator[list[Any]]:
    """The answers in the period, oldest first, as values in EXPORT_COLUMNS order (streamed)."""
    with engine.connect() as conn:
        for r in conn.execute(_query(engine, period)):
            yield [
                r.created_at.isoformat(), r.score, group(r.kind, r.score),
                r.comment or "", r.kind,
                r.connector, r.ticket_id, r.ticket_url or "", r.agent_name or "", r.team or "", r.channel or "",
                r.tags or "", r.language, r.name or "", r.email or "",
            ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExportTable:
    data: bytes  # UTF-8 CSV, header row first
    rows: int  # answers in it (a comment's line breaks are not rows)


def export_table(engine: Engine, period: Period) -> ExportTable:
    """The header row, then export_rows with formula-like text neutralised, as UTF-8 CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    for row in export_rows(engine, period):
        writer.writerow([neutralise(v) for v in row])
        rows += 1
    return ExportTable(out.getvalue().encode(), rows)


def export_csv(engine: Engine, period: Period) -> bytes:
    """The header row, then export_rows, as UTF-8 CSV (formula-like cells neutralised)."""
    return export_table(engine, period).data
