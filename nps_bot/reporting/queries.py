"""Score reports by period and segment, aggregated in SQL (GROUP BY), never row by row in Python.

Whole UTC days are read from the daily rollups (nps_bot/reporting/rollups.py). Of a partial day at
the edges of a period (`90d` starts at the current time of day) only the smaller part is aggregated
from raw rows: the part inside, or the day's rollup row minus the part outside (`read_plan`); so the
figures equal a raw aggregation exactly, and a report's reads share one snapshot. `rollups=False`
runs the raw aggregation for the whole period: the reference the rollup tests compare with. In both,
the current and the previous equal period are told apart in the GROUP BY, so comparing periods costs
no extra scan. Comments are always read from raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.sql.elements import ColumnElement

from nps_bot.models import ANSWERED_STATES, REACHED_STATES, SCALES
from nps_bot.reporting import rollups as ru
from nps_bot.reporting.periods import Period
from nps_bot.reporting.scoring import (
    Change,
    Estimate,
    Group,
    NpsCounts,
    ces_estimate,
    csat_estimate,
    nps_change,
    nps_estimate,
    proportion_change,
)
from nps_bot.store.schema import alerts, customers, responses, survey_attributes, survey_tags, surveys

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
ReportKind = Literal["nps", "csat", "ces"]
CSAT_SATISFIED_MIN = 4  # top-2 box on the 1..5 scale (scoring.is_satisfied)
_NO_COUNTS = NpsCounts(0, 0, 0)


def _estimate(kind: str, counts: NpsCounts, answers: int, satisfied: int, total: float, sum_squares: float) -> Estimate:
    if kind == "csat":
        return csat_estimate(satisfied, answers)
    if kind == "ces":
        return ces_estimate(total, sum_squares, answers)
    return nps_estimate(counts)


def _p_value(z: float) -> float:
    return min(1.0, 2.0 * NormalDist().cdf(-abs(z)))


def _normal_change(cur: Estimate, prev: Estimate, confidence: float = 0.95, min_n: int = 1) -> Change:
    """CES change: Welch-style z from the two normal-approximation margins (margin / z = s / sqrt(n)).

    Never significant when either period has fewer than `min_n` answers.
    """
    if cur.value is None or prev.value is None:
        return Change(None, None, None, False)
    delta = cur.value - prev.value
    if cur.margin is None or prev.margin is None:  # a single CES answer has no spread to test with
        return Change(delta, None, None, False)
    crit = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    se = math.hypot(cur.margin / crit, prev.margin / crit)
    if se == 0.0:
        return Change(delta, None, None, False)
    z = delta / se
    p_value = _p_value(z)
    return Change(delta, z, p_value, p_value < 1.0 - confidence and min(cur.n, prev.n) >= min_n)


class _Scored:
    """Answer count and score estimate from the aggregates a segment or a trend week carries."""

    __slots__ = ()
    counts: NpsCounts
    kind: str
    answers: int
    satisfied: int
    total: float
    sum_squares: float

    @property
    def n(self) -> int:
        return self.counts.n if self.kind == "nps" else self.answers

    @property
    def estimate(self) -> Estimate:
        return _estimate(self.kind, self.counts, self.answers, self.satisfied, self.total, self.sum_squares)


@dataclass(frozen=True, slots=True)
class SegmentStats(_Scored):
    key: str | None
    counts: NpsCounts  # NPS groups; all zero for CSAT/CES
    sent: int  # surveys that reached customers in the period
    answered_of_sent: int
    kind: str = "nps"
    answers: int = 0  # CSAT/CES answer count (NPS: counts.n)
    satisfied: int = 0  # CSAT answers >= 4
    total: float = 0.0  # CES SUM(score)
    sum_squares: float = 0.0  # CES SUM(score * score)
    previous: SegmentStats | None = None  # same segment, previous equal period
    min_n: int = 1  # fewer answers than this in either period: no change is called significant

    @property
    def response_rate(self) -> float | None:
        return self.answered_of_sent / self.sent if self.sent else None

    @property
    def change(self) -> Change:
        """Versus the previous equal period; never significant without a previous sample."""
        prev = self.previous
        if prev is None:
            return Change(None, None, None, False)
        if self.kind == "nps":
            return nps_change(self.counts, prev.counts, min_n=self.min_n)
        if self.kind == "csat":
            return proportion_change(self.satisfied, self.answers, prev.satisfied, prev.answers, min_n=self.min_n)
        return _normal_change(self.estimate, prev.estimate, min_n=self.min_n)


@dataclass(frozen=True, slots=True)
class ScoreReport:
    period: Period
    dimension: str | None
    overall: SegmentStats
    segments: tuple[SegmentStats, ...]
    min_n: int
    kind: str = "nps"

    @property
    def previous(self) -> SegmentStats:
        return self.overall.previous or _empty(None, self.kind)

    @property
    def change(self) -> Change:
        return self.overall.change

    def ranked(self) -> list[SegmentStats]:
        """Reliable segments best first; segments with too few answers last, never ranked."""
        reliable = [s for s in self.segments if s.n >= self.min_n]
        few = [s for s in self.segments if s.n < self.min_n]
        # Higher is better for all three: CES asks "made it easy for me" (7 = easiest).
        reliable.sort(key=lambda s: (-(s.estimate.value or 0), -s.n))
        few.sort(key=lambda s: (-s.n, s.key or ""))
        return reliable + few


def _empty(key: str | None, kind: str) -> SegmentStats:
    return SegmentStats(key, _NO_COUNTS, 0, 0, kind)


def _segment(dimension: str | None, base: sa.FromClause) -> tuple[ColumnElement[Any], sa.FromClause]:
    """The key column for a dimension and the FROM clause it needs."""
    if dimension is None:
        return sa.literal(None, sa.String).label("key"), base
    if dimension == TAG:
        return survey_tags.c.tag.label("key"), base.outerjoin(survey_tags, survey_tags.c.survey_id == surveys.c.id)
    if dimension in DIMENSIONS:
        return DIMENSIONS[dimension].label("key"), base
    # (survey_id, name) is the primary key: at most one value per survey, like the built-in columns.
    attrs = survey_attributes.alias("attrs")
    joined = base.outerjoin(attrs, sa.and_(attrs.c.survey_id == surveys.c.id, attrs.c.name == dimension))
    return attrs.c.value.label("key"), joined


def _score_columns(kind: str, score: ColumnElement[Any] = responses.c.score) -> list[ColumnElement[Any]]:
    """Sufficient statistics for one kind; only what it needs, as every CASE costs per row."""
    if kind == "nps":
        return [
            sa.func.sum(sa.case((score >= 9, 1), else_=0)).label("promoters"),
            sa.func.sum(sa.case((score.between(7, 8), 1), else_=0)).label("passives"),
            sa.func.sum(sa.case((score <= 6, 1), else_=0)).label("detractors"),
        ]
    return [
        sa.func.count().label("answers"),
        sa.func.sum(sa.case((score >= CSAT_SATISFIED_MIN, 1), else_=0)).label("satisfied"),
        sa.func.sum(score).label("total"),
        sa.func.sum(score * score).label("sum_squares"),
    ]


def _stats_from(row: Any, kind: str) -> dict[str, Any]:
    if row is None:
        return {"counts": _NO_COUNTS, "kind": kind}
    if kind == "nps":
        return {"counts": NpsCounts(int(row.promoters), int(row.passives), int(row.detractors)), "kind": kind}
    return {
        "counts": _NO_COUNTS,
        "kind": kind,
        "answers": int(row.answers),
        "satisfied": int(row.satisfied),
        "total": float(row.total or 0),
        "sum_squares": float(row.sum_squares or 0),
    }


Sums = dict[tuple[int, str | None], list[int]]  # {(0 = current | 1 = previous, key): rollups.FIELDS}
_WIDTH = len(ru.FIELDS)
_SENT = ru.FIELDS.index("sent")


def _answer_vector(row: Any, kind: str) -> list[int]:
    names = ("promoters", "passives", "detractors") if kind == "nps" else ru.FIELDS[3:7]
    return [int(getattr(row, f) or 0) if f in names else 0 for f in ru.FIELDS]


def _scored(vector: Sequence[int], kind: str) -> dict[str, Any]:
    v = dict(zip(ru.FIELDS, vector, strict=True))
    if kind == "nps":
        return {"counts": NpsCounts(v["promoters"], v["passives"], v["detractors"]), "kind": kind}
    return {
        "counts": _NO_COUNTS,
        "kind": kind,
        "answers": v["answers"],
        "satisfied": v["satisfied"],
        "total": float(v["total"]),
        "sum_squares": float(v["sum_squares"]),
    }


def _merge(into: Sums, more: Sums) -> None:
    for k, vector in more.items():
        acc = into.setdefault(k, [0] * _WIDTH)
        for i, x in enumerate(vector):
            acc[i] += x


def _send_counts(state: ColumnElement[str]) -> list[ColumnElement[Any]]:
    """Per group: surveys that reached the customer ("sent") and those of them answered. In the
    aggregate, not the WHERE: there it made SQLite pick the state index (nearly every survey) over the
    sent_at one. (survey, tag) is a primary key and every other key is one per survey: plain counts."""
    reached = state.in_([s.value for s in REACHED_STATES])
    answered = state.in_([s.value for s in ANSWERED_STATES])
    return [
        sa.func.sum(sa.case((reached, 1), else_=0)).label("sent"),
        sa.func.sum(sa.case((answered, 1), else_=0)).label("answered"),
    ]


def _collect(conn: sa.Connection, kind: str, answers: sa.Select[Any], sends: sa.Select[Any]) -> Sums:
    """Run an answers and a sends query whose first two columns are (bucket, key); their sums by (bucket, key)."""
    out: Sums = {}
    _merge(out, {(int(r[0]), r.key): _answer_vector(r, kind) for r in conn.execute(answers)})
    _merge(
        out, {(int(r[0]), r.key): [0] * _SENT + [int(r.sent or 0), int(r.answered or 0)] for r in conn.execute(sends)}
    )
    return out


def _raw_sums(
    conn: sa.Connection,
    period: Period,
    dimension: str | None,
    kind: str,
    compare: bool,
) -> Sums:
    """One answers query and one sent query over raw rows, for the period and its previous one."""
    prev = period.previous() if compare else period
    key, answered_from = _segment(dimension, responses.join(surveys, surveys.c.id == responses.c.survey_id))
    a_bucket = sa.case((responses.c.created_at >= period.start, 0), else_=1).label("bucket")
    answers = (
        sa.select(a_bucket, key, *_score_columns(kind))
        .select_from(answered_from)
        .where(
            responses.c.kind == kind,
            responses.c.created_at >= prev.start,
            responses.c.created_at < period.end,
        )
        .group_by(a_bucket, key)
    )
    # Response rate is judged per cohort: of the surveys sent in the period, how many were answered.
    # A survey's state becomes answered/commented in the transaction that stores its response, so
    # the state alone says "answered": no join to responses.
    skey, sent_from = _segment(dimension, surveys)
    s_bucket = sa.case((surveys.c.sent_at >= period.start, 0), else_=1).label("bucket")
    sent = (
        sa.select(s_bucket, skey, *_send_counts(surveys.c.state))
        .select_from(sent_from)
        .where(
            surveys.c.kind == kind,
            surveys.c.sent_at >= prev.start,
            surveys.c.sent_at < period.end,
        )
        .group_by(s_bucket, skey)
    )
    return _collect(conn, kind, answers, sent)


@dataclass(frozen=True, slots=True)
class EdgePiece:
    """Raw rows of [start, end) within one partial day: added to bucket `plus` and/or subtracted from
    bucket `minus` (0 = current period, 1 = previous; None = neither)."""

    start: datetime
    end: datetime
    plus: int | None
    minus: int | None


def _edge_sums(conn: sa.Connection, dimension: str | None, kind: str, pieces: Sequence[EdgePiece]) -> Sums:
    """{(piece index, key): sums} of the raw rows in each piece: one answers and one sends query, each a
    UNION ALL of one narrow time range per piece (each reads the time index for its hours only)."""

    def in_pieces(at: Any, key: Any, value: Any, from_: Any, kind_column: Any) -> sa.Subquery:
        picks = [
            sa.select(sa.literal(i, sa.Integer).label("piece"), key, value)
            .select_from(from_)
            .where(kind_column == kind, at >= p.start, at < p.end)
            for i, p in enumerate(pieces)
        ]
        return (sa.union_all(*picks) if len(picks) > 1 else picks[0]).subquery()

    # Everyone: the answers alone (the covering index), no join to surveys.
    base = responses if dimension is None else responses.join(surveys, surveys.c.id == responses.c.survey_id)
    key, answered_from = _segment(dimension, base)
    answered = in_pieces(responses.c.created_at, key, responses.c.score.label("score"), answered_from, responses.c.kind)
    answers = sa.select(answered.c.piece, answered.c.key, *_score_columns(kind, answered.c.score)).group_by(
        answered.c.piece, answered.c.key
    )
    skey, sent_from = _segment(dimension, surveys)
    sent = in_pieces(surveys.c.sent_at, skey, surveys.c.state.label("state"), sent_from, surveys.c.kind)
    sends = sa.select(sent.c.piece, sent.c.key, *_send_counts(sent.c.state)).group_by(sent.c.piece, sent.c.key)
    return _collect(conn, kind, answers, sends)


def rollup_dim(dimension: str | None) -> str:
    """The rollups' name for a report dimension (already lower-cased)."""
    if dimension is None:
        return ru.EVERYONE
    if dimension == TAG:
        return ru.TAG
    if dimension in DIMENSIONS:
        return DIMENSIONS[dimension].name
    return ru.attribute_dim(dimension)


def _rollup_sums(
    conn: sa.Connection, dimension: str | None, kind: str, days: Sequence[tuple[date, date] | None]
) -> Sums:
    dim = rollup_dim(dimension)
    out: Sums = {(b, ru.decode(k)): v for (b, k), v in ru.bucket_sums(conn, kind, dim, days).items()}
    if dim.startswith(ru.ATTRIBUTE_PREFIX):
        # Surveys without the attribute (key NULL) are not stored per attribute: everyone minus the
        # values, exact because a survey has at most one value per attribute.
        for (b, _), everyone in ru.bucket_sums(conn, kind, ru.EVERYONE, days).items():
            rest = list(everyone)
            for (b2, _), v in out.items():
                if b2 == b:
                    rest = [x - y for x, y in zip(rest, v, strict=True)]
            if any(rest):
                out[(b, None)] = rest
    return out


def _by_day(start: datetime, end: datetime) -> Iterator[tuple[date, datetime, datetime]]:
    while start < end:
        day = ru.utc_day(start)
        cut = min(end, ru.midnight(day + timedelta(days=1)))
        yield day, start, cut
        start = cut


def read_plan(period: Period, compare: bool) -> tuple[list[tuple[date, date] | None], list[int], list[EdgePiece]]:
    """How a report reads the period (bucket 0) and the previous one (bucket 1): day ranges of the
    rollups with the bucket each goes to, and the raw pieces of the partial days.

    A partial day is split into pieces by bucket (the rest of the day: none). Either its labelled
    pieces are read raw, or its rollup row goes to one bucket and every other piece is read raw and
    moved out of it (rollup - raw is exact: a day's rollup is the sum of its raw rows). Whichever reads
    fewer hours: for `7d` at 14:37 three evening pieces (18.8 h) instead of 48 h of raw rows; a day's
    part after the period end counts as empty (it is the future when the period ends now).
    """
    intervals = [(period.start, period.end, 0)]
    if compare:
        prev = period.previous()
        intervals.append((prev.start, prev.end, 1))
    ranges: list[tuple[date, date] | None] = []
    owners: list[int] = []
    partial: dict[date, list[tuple[datetime, datetime, int | None]]] = {}
    for start, end, bucket in intervals:
        days, edges = ru.whole_days(start, end)
        ranges.append(days)
        owners.append(bucket)
        for a, b in edges:
            for day, x, y in _by_day(a, b):
                partial.setdefault(day, []).append((x, y, bucket))
    horizon = period.end

    def hours(parts: list[tuple[datetime, datetime, int | None]], skip: int | None) -> timedelta:
        return sum((max(min(b, horizon) - a, timedelta(0)) for a, b, label in parts if label != skip), timedelta(0))

    pieces: list[EdgePiece] = []
    for day, labelled in sorted(partial.items()):
        parts = sorted(labelled)
        at, rest = ru.midnight(day), []
        for a, b, _ in parts:
            if at < a:
                rest.append((at, a, None))
            at = max(at, b)
        if at < ru.midnight(day + timedelta(days=1)):
            rest.append((at, ru.midnight(day + timedelta(days=1)), None))
        parts = sorted(parts + rest)
        # On a tie, no rollup row (None comes first): nothing is subtracted.
        owner = min([None, *sorted({label for _, _, label in labelled})], key=lambda o: hours(parts, o))
        if owner is not None:
            ranges.append((day, day + timedelta(days=1)))
            owners.append(owner)
        pieces += [EdgePiece(a, b, label, owner) for a, b, label in parts if label != owner]
    return ranges, owners, pieces


@contextmanager
def _snapshot(engine: Engine, *, small: bool = False) -> Iterator[sa.Connection]:
    """One consistent view for a report's several reads: rollup rows and raw rows are added and
    subtracted, so a write committed between two of them must be seen by all or by none.

    `small`: every read touches at most a day or so of rows; PostgreSQL then runs them without
    parallel workers, whose start-up (~10 ms a query) cost more than they saved on such reads.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # deferred: the first read fixes the WAL snapshot
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
            if small:
                conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        yield conn


def _aggregate(
    engine: Engine, period: Period, dimension: str | None, kind: str, compare: bool = True, *, rollups: bool = True
) -> dict[tuple[int, str | None], SegmentStats]:
    """{(0 = current | 1 = previous, key): stats}: rollups for whole days, raw rows for partial ones."""
    with _snapshot(engine, small=rollups) as conn:
        if not rollups:
            sums = _raw_sums(conn, period, dimension, kind, compare)
        else:
            ranges, owners, pieces = read_plan(period, compare)
            sums = {}
            for (i, key), v in _rollup_sums(conn, dimension, kind, ranges).items():
                _merge(sums, {(owners[i], key): v})
            for (i, key), v in (_edge_sums(conn, dimension, kind, pieces) if pieces else {}).items():
                piece = pieces[i]
                if piece.plus is not None:
                    _merge(sums, {(piece.plus, key): v})
                if piece.minus is not None:
                    _merge(sums, {(piece.minus, key): [-x for x in v]})
    return {
        k: SegmentStats(k[1], sent=v[_SENT], answered_of_sent=v[_SENT + 1], **_scored(v, kind))
        for k, v in sums.items()
        if any(v)
    }


def _sum(key: str | None, parts: list[SegmentStats], kind: str) -> SegmentStats:
    """Merge segments whose keys partition the surveys (every dimension except tag)."""
    counts = _NO_COUNTS
    for p in parts:
        counts = counts + p.counts
    return SegmentStats(
        key,
        counts,
        sum(p.sent for p in parts),
        sum(p.answered_of_sent for p in parts),
        kind,
        sum(p.answers for p in parts),
        sum(p.satisfied for p in parts),
        sum(p.total for p in parts),
        sum(p.sum_squares for p in parts),
    )


def _with_previous(cur: SegmentStats, prev: SegmentStats | None, min_n: int) -> SegmentStats:
    return replace(cur, previous=prev, min_n=min_n)


def score_report(
    engine: Engine,
    period: Period,
    dimension: str | None = None,
    *,
    kind: ReportKind = "nps",
    min_n: int = 10,
    compare: bool = True,
    rollups: bool = True,
) -> ScoreReport:
    """NPS (groups), CSAT (% answering 4-5) or CES (mean) for a period, whole base and by segment.

    Every line carries n, response rate, margin and change vs the previous equal period (`compare`;
    without it the previous period is not read and `change` is never significant). `rollups=False`:
    raw rows only (the reference).
    """
    dimension = dimension.lower() if dimension else None
    rows = _aggregate(engine, period, dimension, kind, compare, rollups=rollups)
    keys = sorted({k for _, k in rows}, key=lambda v: (v is None, v or ""))
    segments = tuple(
        _with_previous(
            rows.get((0, k)) or _empty(k, kind), rows.get((1, k)) or _empty(k, kind) if compare else None, min_n
        )
        for k in keys
    )
    if dimension == TAG:
        # A survey can carry several tags (or none), so the overall line needs its own unjoined query.
        overall = score_report(engine, period, None, kind=kind, min_n=min_n, compare=compare, rollups=rollups).overall
    else:
        cur = _sum(None, [rows[k] for k in rows if k[0] == 0], kind)
        prev = _sum(None, [rows[k] for k in rows if k[0] == 1], kind) if compare else None
        overall = _with_previous(cur, prev, min_n)
    # Segments with no answers and no sends in the current period are only in the previous one.
    segments = tuple(s for s in segments if s.n or s.sent) if dimension else ()
    return ScoreReport(period, dimension, overall, segments, min_n, kind)


# -- weekly trend ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendPoint(_Scored):
    week_start: datetime  # Monday 00:00 UTC
    counts: NpsCounts
    kind: str = "nps"
    answers: int = 0
    satisfied: int = 0
    total: float = 0.0
    sum_squares: float = 0.0


def week_start(at: datetime) -> datetime:
    day = at.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _segment_filter(segment: tuple[str, str]) -> ColumnElement[bool]:
    dimension, value = segment[0].lower(), segment[1]
    if dimension in DIMENSIONS:
        return DIMENSIONS[dimension] == value
    if dimension == TAG:
        return sa.exists().where(survey_tags.c.survey_id == surveys.c.id, survey_tags.c.tag == value)
    return sa.exists().where(
        survey_attributes.c.survey_id == surveys.c.id,
        survey_attributes.c.name == dimension,
        survey_attributes.c.value == value,
    )


def weekly_trend(
    engine: Engine,
    weeks: int,
    now: datetime,
    *,
    kind: ReportKind = "nps",
    dimension: str | None = None,
    value: str | None = None,
    rollups: bool = True,
) -> list[TrendPoint]:
    """The last `weeks` ISO weeks (current one included, oldest first), empty weeks with n = 0.

    One query: week boundaries are computed here and bucketed with CASE, which SQLite and
    PostgreSQL both run without date functions. Weeks are whole UTC days: rollups only
    (`rollups=False`: raw rows, the reference).
    """
    if weeks < 1:
        raise ValueError("weeks must be >= 1")
    first = week_start(now) - timedelta(weeks=weeks - 1)
    bounds = [first + timedelta(weeks=i) for i in range(weeks + 1)]
    if rollups:
        segment = dimension and value is not None
        dim = rollup_dim(dimension.lower() if segment and dimension else None)
        key = ru.encode(value) if segment else ""
        days = [(bounds[i].date(), bounds[i + 1].date()) for i in range(weeks)]
        with engine.connect() as conn:
            sums = {b: v for (b, _), v in ru.bucket_sums(conn, kind, dim, days, key=key).items()}
        return [TrendPoint(bounds[i], **_scored(sums.get(i, [0] * _WIDTH), kind)) for i in range(weeks)]
    at = responses.c.created_at
    whens = [(at < b, i) for i, b in enumerate(bounds[1:-1])]
    bucket = (sa.case(*whens, else_=weeks - 1) if whens else sa.literal(0)).label("bucket")
    query = (
        sa.select(bucket, *_score_columns(kind))
        .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id))
        .where(responses.c.kind == kind, at >= bounds[0], at < bounds[-1])
        .group_by(bucket)
    )
    if dimension and value is not None:
        query = query.where(_segment_filter((dimension, value)))
    with engine.connect() as conn:
        rows = {int(r.bucket): r for r in conn.execute(query)}
    return [TrendPoint(bounds[i], **_stats_from(rows.get(i), kind)) for i in range(weeks)]


# -- verbatim comments -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommentRow:
    score: int
    comment: str
    customer_name: str | None
    agent_name: str | None
    team: str | None
    ticket_url: str | None
    connector: str
    answered_at: datetime


def group_bounds(kind: str) -> tuple[int, int]:
    """(highest detractor score, lowest promoter score): NPS 6/9; CSAT and CES map onto the same
    three groups as the follow-up questions (wording.sentiment): CSAT 3/4, CES 4/6."""
    if kind == "nps":
        return 6, 9
    low, high = SCALES[kind]
    return low + (high - low) // 2, high - 1


def _group_filter(kind: str, group: Group, score: ColumnElement[int]) -> ColumnElement[bool]:
    detractor_max, promoter_min = group_bounds(kind)
    if group == "detractor":
        return score <= detractor_max
    if group == "promoter":
        return score >= promoter_min
    return sa.and_(score > detractor_max, score < promoter_min)


def recent_comments(
    engine: Engine,
    period: Period,
    group: Group | None = None,
    segment: tuple[str, str] | None = None,
    limit: int = 10,
    *,
    detractors_first: bool = False,
    kind: ReportKind = "nps",
) -> list[CommentRow]:
    """Answers with a comment, newest first; `detractors_first` (no group) puts detractors on top."""
    score = responses.c.score
    query = (
        sa.select(
            score,
            responses.c.comment,
            customers.c.name.label("customer_name"),
            surveys.c.agent_name,
            surveys.c.team,
            surveys.c.ticket_url,
            surveys.c.connector,
            responses.c.created_at.label("answered_at"),
        )
        .select_from(
            responses.join(surveys, surveys.c.id == responses.c.survey_id).outerjoin(
                customers, customers.c.id == surveys.c.customer_id
            )
        )
        .where(
            responses.c.kind == kind,
            responses.c.created_at >= period.start,
            responses.c.created_at < period.end,
            responses.c.comment.is_not(None),
            responses.c.comment != "",
        )
        .limit(limit)
    )
    if group is not None:
        query = query.where(_group_filter(kind, group, score))
    if segment is not None:
        query = query.where(_segment_filter(segment))
    # Newest first along ix_responses_commented (only answers with a comment), stopping at the LIMIT.
    query = query.order_by(responses.c.created_at.desc(), responses.c.id.desc())
    with _snapshot(engine) as conn:
        if not detractors_first or group is not None:
            return [CommentRow(**r._mapping) for r in conn.execute(query)]
        # Detractors first: two index walks, not one ORDER BY CASE (...) that sorts every comment.
        worst = group_bounds(kind)[0]
        rows = [CommentRow(**r._mapping) for r in conn.execute(query.where(score <= worst))]
        if len(rows) < limit:
            rest = query.where(score > worst).limit(limit - len(rows))
            rows += [CommentRow(**r._mapping) for r in conn.execute(rest)]
        return rows


# -- follow-up of detractor alerts -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowUp:
    followed: int  # claimed or resolved within the window
    total: int  # detractor answers alerted in the period
    waiting: int = 0  # not followed yet, but still inside their window at `now`: not (yet) a miss

    @property
    def rate(self) -> float | None:
        return self.followed / self.total if self.total else None

    @property
    def missed(self) -> int:
        return self.total - self.followed - self.waiting


FOLLOW_UP_WITHIN = timedelta(hours=48)


def _detractor(kind: ColumnElement[str], score: ColumnElement[int]) -> ColumnElement[bool]:
    return sa.or_(*(sa.and_(kind == k, score <= group_bounds(k)[0]) for k in SCALES))


def follow_up_stats(
    engine: Engine, period: Period, within: timedelta = FOLLOW_UP_WITHIN, *, now: datetime | None = None
) -> FollowUp:
    """Detractor answers alerted in the period, and how many were claimed or resolved within `within`.

    Counted per answer (an answer alerted in two channels counts once, followed if either was), from
    its first alert; answers no longer detractors (score changed) drop out. Not followed yet but
    alerted less than `within` before `now` (default: the period end) counts as `waiting`.
    SQL reduces to one row per answer (MIN of the three times); the `within` comparison is done here
    because timestamp + interval has no portable spelling across SQLite and PostgreSQL.
    """
    query = (
        sa.select(
            sa.func.min(alerts.c.created_at).label("created"),
            sa.func.min(alerts.c.claimed_at).label("claimed"),
            sa.func.min(alerts.c.resolved_at).label("resolved"),
        )
        .select_from(alerts.join(responses, responses.c.survey_id == alerts.c.survey_id))
        .where(
            alerts.c.created_at >= period.start,
            alerts.c.created_at < period.end,
            _detractor(responses.c.kind, responses.c.score),
        )
        .group_by(alerts.c.survey_id)
    )
    now = now or period.end
    followed = waiting = total = 0
    with engine.connect() as conn:
        for created, claimed, resolved in conn.execute(query):
            total += 1
            first = min((t for t in (claimed, resolved) if t is not None), default=None)
            if first is not None and first - created <= within:
                followed += 1
            elif first is None and now - created < within:
                waiting += 1
    return FollowUp(followed, total, waiting)
