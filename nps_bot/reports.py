"""Score reports by period and segment, aggregated in SQL (GROUP BY), never row by row in Python."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.sql.elements import ColumnElement

from nps_bot.models import REACHED_STATES, SurveyKind
from nps_bot.periods import Period
from nps_bot.scoring import Estimate, NpsCounts, nps_estimate
from nps_bot.store.schema import responses, survey_attributes, survey_tags, surveys

# Built-in segment dimensions; any other name is a customer attribute (plan, region...).
DIMENSIONS: dict[str, ColumnElement[str]] = {
    "agent": surveys.c.agent_name,
    "team": surveys.c.team,
    "channel": surveys.c.channel,
    "helpdesk": surveys.c.connector,
    "connector": surveys.c.connector,
    "language": surveys.c.language,
}
TAG = "tag"


@dataclass(frozen=True, slots=True)
class SegmentStats:
    key: str | None
    counts: NpsCounts
    sent: int  # surveys that reached customers in the period
    answered_of_sent: int

    @property
    def estimate(self) -> Estimate:
        return nps_estimate(self.counts)

    @property
    def response_rate(self) -> float | None:
        return self.answered_of_sent / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class ScoreReport:
    period: Period
    dimension: str | None
    overall: SegmentStats
    segments: tuple[SegmentStats, ...]
    min_n: int

    def ranked(self) -> list[SegmentStats]:
        """Reliable segments best first; segments with too few answers last, never ranked."""
        reliable = [s for s in self.segments if s.counts.n >= self.min_n]
        few = [s for s in self.segments if s.counts.n < self.min_n]
        reliable.sort(key=lambda s: (-(s.estimate.value or 0), -s.counts.n))
        few.sort(key=lambda s: (-s.counts.n, s.key or ""))
        return reliable + few


def _segment(dimension: str | None, base: sa.FromClause) -> tuple[ColumnElement[str | None], sa.FromClause]:
    """The key column for a dimension and the FROM clause it needs."""
    if dimension is None:
        return sa.literal(None, sa.String).label("key"), base
    if dimension == TAG:
        return survey_tags.c.tag.label("key"), base.outerjoin(survey_tags, survey_tags.c.survey_id == surveys.c.id)
    if dimension in DIMENSIONS:
        return DIMENSIONS[dimension].label("key"), base
    attrs = survey_attributes.alias("attrs")
    joined = base.outerjoin(attrs, sa.and_(attrs.c.survey_id == surveys.c.id, attrs.c.name == dimension))
    return attrs.c.value.label("key"), joined


def score_report(
    engine: Engine, period: Period, dimension: str | None = None, *, kind: SurveyKind = "nps", min_n: int = 10
) -> ScoreReport:
    dimension = dimension.lower() if dimension else None
    key, answered_from = _segment(dimension, responses.join(surveys, surveys.c.id == responses.c.survey_id))
    answers = (
        sa.select(
            key,
            sa.func.sum(sa.case((responses.c.score >= 9, 1), else_=0)).label("promoters"),
            sa.func.sum(sa.case((responses.c.score.between(7, 8), 1), else_=0)).label("passives"),
            sa.func.sum(sa.case((responses.c.score <= 6, 1), else_=0)).label("detractors"),
        )
        .select_from(answered_from)
        .where(
            responses.c.kind == kind,
            responses.c.created_at >= period.start,
            responses.c.created_at < period.end,
        )
        .group_by(key)
    )
    # Response rate is judged per cohort: of the surveys sent in the period, how many were answered.
    skey, sent_from = _segment(dimension, surveys.outerjoin(responses, responses.c.survey_id == surveys.c.id))
    sent = (
        sa.select(
            skey,
            sa.func.count(sa.distinct(surveys.c.id)).label("sent"),
            sa.func.count(sa.distinct(responses.c.id)).label("answered"),
        )
        .select_from(sent_from)
        .where(
            surveys.c.kind == kind,
            surveys.c.sent_at >= period.start,
            surveys.c.sent_at < period.end,
            surveys.c.state.in_([s.value for s in REACHED_STATES]),
        )
        .group_by(skey)
    )
    with engine.connect() as conn:
        answer_rows = {r.key: r for r in conn.execute(answers)}
        sent_rows = {r.key: r for r in conn.execute(sent)}
    segments = []
    for k in sorted(set(answer_rows) | set(sent_rows), key=lambda v: (v is None, v or "")):
        a, s = answer_rows.get(k), sent_rows.get(k)
        counts = NpsCounts(int(a.promoters), int(a.passives), int(a.detractors)) if a else NpsCounts(0, 0, 0)
        segments.append(SegmentStats(k, counts, int(s.sent) if s else 0, int(s.answered) if s else 0))
    if dimension is None:
        overall = segments[0] if segments else SegmentStats(None, NpsCounts(0, 0, 0), 0, 0)
        return ScoreReport(period, None, overall, (), min_n)
    # A survey can carry several tags, so the overall line is computed without the segment join.
    overall = score_report(engine, period, None, kind=kind, min_n=min_n).overall
    return ScoreReport(period, dimension, overall, tuple(segments), min_n)
