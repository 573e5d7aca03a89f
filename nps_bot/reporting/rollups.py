"""Report rollups: per UTC day, kind and segment, the sums every score report is made of.

A report over whole days adds up at most a few hundred rollup rows instead of scanning every
answer. The rollups are kept exact by `tracked`: a write path names the surveys it is about to change,
their contribution (answer and send) is read before and after the change, and the difference is
added with one upsert per rollup row, all in the caller's transaction. `rebuild` recomputes
everything from the raw rows (`nps-bot rollups rebuild`, and migration 0009 for existing data).

What a survey contributes, with the same semantics as the raw report queries:
- its response, to the day of `responses.created_at` (kind = `responses.kind`): NPS groups, CSAT
  satisfied, CES sum and sum of squares, and the answer count;
- its send, to the day of `surveys.sent_at` (kind = `surveys.kind`): `sent` when its state counts as
  reached, `answered` when it counts as answered (the response-rate cohort).
Each under every segment: everyone (dim ""), each built-in column, each tag (key NULL: no tag),
and each attribute it has. Surveys without an attribute are not stored per attribute: that NULL
segment is everyone minus the attribute's values (one value per survey and name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from nps_bot.models import ANSWERED_STATES, REACHED_STATES
from nps_bot.store.schema import report_rollups, responses, survey_attributes, survey_tags, surveys

FIELDS = (
    "promoters",
    "passives",
    "detractors",
    "answers",
    "satisfied",
    "total",
    "sum_squares",
    "sent",
    "answered",
)
_ANSWER_FIELDS = 7  # FIELDS[:7] come from a response, FIELDS[7:] from a send
PROMOTER_MIN, PASSIVE_MIN, SATISFIED_MIN = 9, 7, 4
EVERYONE = ""  # dim of the whole-base rows
TAG = "tag"
ATTRIBUTE_PREFIX = "attr:"
# Built-in segment columns, stored under their column name as dim.
SEGMENT_COLUMNS: tuple[str, ...] = ("agent_name", "team", "channel", "connector", "language")
_REACHED = frozenset(s.value for s in REACHED_STATES)
_ANSWERED = frozenset(s.value for s in ANSWERED_STATES)
_CHUNK = 500  # ids per IN (...) list

RowKey = tuple[str, str, date, str]  # (kind, dim, day, encoded key)
Deltas = dict[RowKey, list[int]]


def encode(value: str | None) -> str:
    """Primary-key columns cannot be NULL: "" is no value, "=" + value is a value (even "")."""
    return "" if value is None else "=" + value


def decode(key: str) -> str | None:
    return key[1:] if key else None


def attribute_dim(name: str) -> str:
    return ATTRIBUTE_PREFIX + name


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def whole_days(start: datetime, end: datetime) -> tuple[tuple[date, date] | None, list[tuple[datetime, datetime]]]:
    """Split [start, end) into whole UTC days [first, last) for the rollups and the partial edge
    intervals a report reads from raw rows (a period like `90d` starts at the current time of day)."""
    first = utc_day(start)
    if midnight(first) < start:
        first += timedelta(days=1)
    last = utc_day(end)
    if midnight(first) >= midnight(last):
        return None, [(start, end)] if start < end else []
    edges = []
    if start < midnight(first):
        edges.append((start, midnight(first)))
    if midnight(last) < end:
        edges.append((midnight(last), end))
    return (first, last), edges


# -- what one survey contributes ----------------------------------------------------------------


def _answer_vector(score: int) -> list[int]:
    return [
        int(score >= PROMOTER_MIN),
        int(PASSIVE_MIN <= score < PROMOTER_MIN),
        int(score < PASSIVE_MIN),
        1,
        int(score >= SATISFIED_MIN),
        score,
        score * score,
        0,
        0,
    ]


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


def contributions(conn: Connection, survey_ids: Iterable[int], *, lock: bool = False) -> Deltas:
    """What these surveys add to the rollups as the database holds them now. `lock` takes their row
    locks (PostgreSQL) so no concurrent writer changes them between this read and our write."""
    out: Deltas = defaultdict(lambda: [0] * len(FIELDS))
    ids = sorted(set(survey_ids))
    for chunk in _chunks(ids):
        query = (
            sa.select(
                surveys.c.id,
                surveys.c.kind,
                surveys.c.state,
                surveys.c.sent_at,
                *(surveys.c[c] for c in SEGMENT_COLUMNS),
                responses.c.kind.label("answer_kind"),
                responses.c.score,
                responses.c.created_at.label("answered_at"),
            )
            .select_from(surveys.outerjoin(responses, responses.c.survey_id == surveys.c.id))
            .where(surveys.c.id.in_(chunk))
            .order_by(surveys.c.id)
        )
        if lock:
            query = query.with_for_update(of=surveys)  # PostgreSQL: row locks until commit
            if conn.dialect.name == "sqlite":
                # SQLite has no row locks and runs a SELECT before the first write outside any
                # transaction: a no-op write takes the database write lock first, so what we read
                # cannot change under us (a double click must not count twice).
                conn.execute(surveys.update().where(surveys.c.id.in_(chunk)).values(id=surveys.c.id))
        rows = conn.execute(query).all()
        if not rows:
            continue
        tags: dict[int, list[str]] = defaultdict(list)
        for sid, tag in conn.execute(
            sa.select(survey_tags.c.survey_id, survey_tags.c.tag).where(survey_tags.c.survey_id.in_(chunk))
        ):
            tags[sid].append(tag)
        attrs: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for sid, name, value in conn.execute(
            sa.select(survey_attributes.c.survey_id, survey_attributes.c.name, survey_attributes.c.value).where(
                survey_attributes.c.survey_id.in_(chunk)
            )
        ):
            attrs[sid].append((name, value))
        for r in rows:
            segments = [(EVERYONE, "")]
            segments += [(c, encode(getattr(r, c))) for c in SEGMENT_COLUMNS]
            segments += [(TAG, encode(t)) for t in tags[r.id]] or [(TAG, "")]
            segments += [(attribute_dim(n), encode(v)) for n, v in attrs[r.id]]
            parts: list[tuple[str, date, list[int]]] = []
            if r.score is not None:
                parts.append((r.answer_kind, utc_day(r.answered_at), _answer_vector(r.score)))
            if r.sent_at is not None and r.state in _REACHED:
                send = [0] * _ANSWER_FIELDS + [1, int(r.state in _ANSWERED)]
                parts.append((r.kind, utc_day(r.sent_at), send))
            for kind, day, vector in parts:
                for dim, key in segments:
                    acc = out[(kind, dim, day, key)]
                    for i, v in enumerate(vector):
                        acc[i] += v
    return out


def _subtract(after: Deltas, before: Deltas) -> Deltas:
    diff: Deltas = {}
    for k in set(after) | set(before):
        a, b = after.get(k), before.get(k)
        vector = [x - y for x, y in zip(a or [0] * len(FIELDS), b or [0] * len(FIELDS), strict=True)]
        if any(vector):
            diff[k] = vector
    return diff


def add(conn: Connection, deltas: Deltas) -> None:
    """Add `deltas` to the rollup rows, creating missing ones. Rows go in key order so concurrent
    transactions lock shared rows (today's whole-base row) in the same order: no deadlock."""
    rows = [
        {"kind": k[0], "dim": k[1], "day": k[2], "key": k[3], **dict(zip(FIELDS, v, strict=True))}
        for k, v in sorted(deltas.items())
        if any(v)
    ]
    if not rows:
        return
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(report_rollups)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "dim", "day", "key"],
        set_={f: report_rollups.c[f] + stmt.excluded[f] for f in FIELDS},
    )
    conn.execute(stmt, rows)


class Tracker:
    """Collects the surveys a transaction changes; `flush` adds the difference their change made."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ids: set[int] = set()
        self.before: Deltas = {}

    def watch(self, survey_ids: Iterable[int]) -> None:
        """Call before changing these surveys (or their response, tags, attributes) or deleting them;
        a survey inserted in this transaction is watched right after its insert."""
        new = set(survey_ids) - self.ids
        if not new:
            return
        self.ids |= new
        for k, v in contributions(self.conn, new, lock=True).items():
            acc = self.before.setdefault(k, [0] * len(FIELDS))
            for i, x in enumerate(v):
                acc[i] += x

    def flush(self) -> None:
        if self.ids:
            add(self.conn, _subtract(contributions(self.conn, self.ids), self.before))
        self.ids, self.before = set(), {}


@contextmanager
def tracked(conn: Connection, survey_ids: Iterable[int] = ()) -> Iterator[Tracker]:
    """`with tracked(conn, ids): <change them>`: the rollups follow, in the same transaction.
    On an exception nothing is added (the caller's transaction rolls back anyway)."""
    tracker = Tracker(conn)
    tracker.watch(survey_ids)
    yield tracker
    tracker.flush()


def delete_surveys(conn: Connection, survey_ids: Sequence[int]) -> int:
    """Delete surveys (their responses, tags and attributes go by cascade) and their rollup share."""
    if not survey_ids:
        return 0
    with tracked(conn, survey_ids):
        deleted = 0
        for chunk in _chunks(sorted(set(survey_ids))):
            for child in (responses, survey_tags, survey_attributes):  # SQLite may run without FK pragmas
                conn.execute(child.delete().where(child.c.survey_id.in_(chunk)))
            deleted += conn.execute(surveys.delete().where(surveys.c.id.in_(chunk))).rowcount
    return deleted


# -- rebuild from raw rows -----------------------------------------------------------------------


def _day(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone(sa.literal_column("'UTC'"), column), sa.Date)
    return sa.func.date(column)  # SQLite stores naive UTC text: 'YYYY-MM-DD ...'


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# Every stored segment family: (dim, grouping columns -> (dim, key), join onto surveys).
_Family = tuple[list[ColumnElement[Any]], Any, str | None]


def _families() -> list[_Family]:
    out: list[_Family] = [([], lambda: (EVERYONE, None), None)]
    out += [([surveys.c[c]], lambda v, c=c: (c, v), None) for c in SEGMENT_COLUMNS]
    out.append(([survey_tags.c.tag], lambda v: (TAG, v), "tags"))
    out.append(([survey_attributes.c.name, survey_attributes.c.value], lambda n, v: (attribute_dim(n), v), "attrs"))
    return out


def _join(base: Any, how: str | None) -> Any:
    if how == "tags":
        return base.outerjoin(survey_tags, survey_tags.c.survey_id == surveys.c.id)
    if how == "attrs":
        return base.join(survey_attributes, survey_attributes.c.survey_id == surveys.c.id)
    return base


def rebuild(conn: Connection) -> int:
    """Recompute every rollup row from the raw rows, in the caller's transaction; returns the row count."""
    conn.execute(report_rollups.delete())
    totals: Deltas = defaultdict(lambda: [0] * len(FIELDS))
    score = responses.c.score
    answer_sums = [
        sa.func.sum(sa.case((score >= PROMOTER_MIN, 1), else_=0)),
        sa.func.sum(sa.case((score.between(PASSIVE_MIN, PROMOTER_MIN - 1), 1), else_=0)),
        sa.func.sum(sa.case((score < PASSIVE_MIN, 1), else_=0)),
        sa.func.count(),
        sa.func.sum(sa.case((score >= SATISFIED_MIN, 1), else_=0)),
        sa.func.sum(score),
        sa.func.sum(score * score),
    ]
    reached = surveys.c.state.in_(sorted(_REACHED))
    answered = surveys.c.state.in_(sorted(_ANSWERED))
    send_sums = [sa.func.count(), sa.func.sum(sa.case((answered, 1), else_=0))]
    for columns, dim_key, how in _families():
        a_day = _day(conn, responses.c.created_at)
        answers = (
            sa.select(responses.c.kind, a_day, *columns, *answer_sums)
            .select_from(_join(responses.join(surveys, surveys.c.id == responses.c.survey_id), how))
            .group_by(responses.c.kind, a_day, *columns)
        )
        s_day = _day(conn, surveys.c.sent_at)
        sends = (
            sa.select(surveys.c.kind, s_day, *columns, *send_sums)
            .select_from(_join(surveys, how))
            .where(surveys.c.sent_at.is_not(None), reached)
            .group_by(surveys.c.kind, s_day, *columns)
        )
        width = len(columns)
        for query, offset in ((answers, 0), (sends, _ANSWER_FIELDS)):
            for row in conn.execute(query):
                dim, value = dim_key(*row[2 : 2 + width])
                acc = totals[(row[0], dim, _as_date(row[1]), encode(value))]
                for i, v in enumerate(row[2 + width :]):
                    acc[offset + i] += int(v or 0)
    rows = [
        {"kind": k[0], "dim": k[1], "day": k[2], "key": k[3], **dict(zip(FIELDS, v, strict=True))}
        for k, v in totals.items()
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(report_rollups.insert(), rows[i : i + 5000])
    return len(rows)


# -- reading -------------------------------------------------------------------------------------

_SUMS = tuple(sa.func.sum(report_rollups.c[f]) for f in FIELDS)  # built once: a report reads several times


def bucket_sums(
    conn: Connection,
    kind: str,
    dim: str,
    ranges: Sequence[tuple[date, date] | None],
    key: str | None = None,
) -> dict[tuple[int, str], list[int]]:
    """{(index of the day range, encoded key): summed FIELDS} over the rollup rows of `dim`, one
    GROUP BY; `key` (encoded) keeps one segment. Ranges are [first, last) days; None is empty."""
    spans = [(i, r) for i, r in enumerate(ranges) if r is not None and r[0] < r[1]]
    if not spans:
        return {}
    day = report_rollups.c.day
    bucket = sa.case(*((sa.and_(day >= a, day < b), i) for i, (a, b) in spans), else_=-1).label("bucket")
    query = (
        sa.select(bucket, report_rollups.c.key, *_SUMS)
        .where(
            report_rollups.c.kind == kind,
            report_rollups.c.dim == dim,
            day >= min(a for _, (a, _) in spans),
            day < max(b for _, (_, b) in spans),
        )
        .group_by(bucket, report_rollups.c.key)
    )
    if key is not None:
        query = query.where(report_rollups.c.key == key)
    out: dict[tuple[int, str], list[int]] = {}
    for row in conn.execute(query):
        if row[0] >= 0:
            out[(int(row[0]), row[1])] = [int(v or 0) for v in row[2:]]
    return out
