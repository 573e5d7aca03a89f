"""Detractor alerts in the database (table `alerts`), and the survey facts an alert shows.

Vendor-free: chat integrations post and update the messages; this module only knows rows.
A new alert is inserted with a short lease in `next_attempt_at`, so the retry job leaves it to
the thread that is posting it; a failed post pushes `next_attempt_at` out with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.models import SCALES
from nps_bot.reporting.queries import DIMENSIONS, TAG, group_bounds
from nps_bot.reporting.scoring import Group, classify
from nps_bot.store.leases import LeasedQueue
from nps_bot.store.schema import (
    alerts,
    customers,
    responses,
    subscriptions,
    survey_attributes,
    survey_tags,
    surveys,
)
from nps_bot.store.sql import insert_ignore

PENDING, POSTED, FAILED, WITHDRAWN = "pending", "posted", "failed", "withdrawn"
# How long a poster owns a fresh or retried alert before the retry job may take it over.
POST_LEASE = timedelta(minutes=1)
# The lease is a time only: `next_attempt_at` hides the alert from the retry job while one thread posts it.
_QUEUE = LeasedQueue(alerts, until="next_attempt_at", owner=None)


@dataclass(frozen=True, slots=True)
class SurveyDetails:
    """What an alert message and an outbound event show about one answered survey (no e-mail)."""

    survey_id: int
    kind: str
    score: int | None
    comment: str | None
    answered_at: datetime | None
    connector: str
    ticket_id: str
    ticket_url: str | None
    subject: str | None
    channel: str | None
    team: str | None
    agent_name: str | None
    customer_name: str | None
    tags: tuple[str, ...]

    @property
    def group(self) -> Group | None:
        return classify(self.score) if self.score is not None and self.kind == "nps" else None

    def as_payload(self) -> dict[str, Any]:
        return {
            "survey_id": self.survey_id,
            "kind": self.kind,
            "score": self.score,
            "group": self.group,
            "comment": self.comment,
            "ticket_id": self.ticket_id,
            "ticket_url": self.ticket_url,
            "connector": self.connector,
            "agent": self.agent_name,
            "team": self.team,
            "channel": self.channel,
            "tags": list(self.tags),
            "customer_name": self.customer_name,
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
        }


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    survey_id: int
    subscription_id: int
    channel_id: str
    state: str
    message_ref: str | None
    attempts: int
    next_attempt_at: datetime | None
    needs_update: bool
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    outcome: str | None


def survey_details(conn: Connection, survey_id: int) -> SurveyDetails | None:
    tags = sa.select(survey_tags.c.tag).where(survey_tags.c.survey_id == survey_id).order_by(survey_tags.c.tag)
    row = conn.execute(
        sa.select(
            surveys.c.id,
            surveys.c.kind,
            surveys.c.connector,
            surveys.c.ticket_id,
            surveys.c.ticket_url,
            surveys.c.subject,
            surveys.c.channel,
            surveys.c.team,
            surveys.c.agent_name,
            customers.c.name.label("customer_name"),
            responses.c.score,
            responses.c.comment,
            responses.c.created_at.label("answered_at"),
        )
        .select_from(
            surveys.outerjoin(customers, customers.c.id == surveys.c.customer_id).outerjoin(
                responses, responses.c.survey_id == surveys.c.id
            )
        )
        .where(surveys.c.id == survey_id)
    ).first()
    if row is None:
        return None
    return SurveyDetails(
        survey_id=row.id,
        kind=row.kind,
        score=row.score,
        comment=row.comment,
        answered_at=row.answered_at,
        connector=row.connector,
        ticket_id=row.ticket_id,
        ticket_url=row.ticket_url,
        subject=row.subject,
        channel=row.channel,
        team=row.team,
        agent_name=row.agent_name,
        customer_name=row.customer_name,
        tags=tuple(conn.execute(tags).scalars()),
    )


def matches_filter(conn: Connection, survey_id: int, dimension: str | None, value: str | None) -> bool:
    """Whether the survey is in the segment `dimension = value` (case-insensitive), like report segments."""
    if not dimension or value is None:
        return True
    dimension, wanted = dimension.lower(), value.lower()
    if dimension == TAG:
        query = sa.select(survey_tags.c.tag).where(
            survey_tags.c.survey_id == survey_id, sa.func.lower(survey_tags.c.tag) == wanted
        )
    elif dimension in DIMENSIONS:
        query = sa.select(surveys.c.id).where(surveys.c.id == survey_id, sa.func.lower(DIMENSIONS[dimension]) == wanted)
    else:
        query = sa.select(survey_attributes.c.value).where(
            survey_attributes.c.survey_id == survey_id,
            survey_attributes.c.name == dimension,
            sa.func.lower(survey_attributes.c.value) == wanted,
        )
    return conn.execute(query.limit(1)).first() is not None


def create(conn: Connection, survey_id: int, subscription_id: int, channel_id: str, now: datetime) -> int | None:
    """Insert a pending alert leased to the caller; None when this survey already has one here."""
    inserted = insert_ignore(
        conn,
        alerts,
        {
            "survey_id": survey_id,
            "subscription_id": subscription_id,
            "channel_id": channel_id,
            "state": PENDING,
            "attempts": 1,  # the inserting thread posts it right away
            "next_attempt_at": now + POST_LEASE,
            "needs_update": False,
            "created_at": now,
        },
        ("survey_id", "subscription_id"),
    )
    if not inserted:
        return None
    return conn.execute(
        sa.select(alerts.c.id).where(alerts.c.survey_id == survey_id, alerts.c.subscription_id == subscription_id)
    ).scalar_one()


def get(engine: Engine | Connection, alert_id: int) -> AlertRow | None:
    if isinstance(engine, Engine):
        with engine.connect() as conn:
            return get(conn, alert_id)
    row = engine.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return AlertRow(**row._mapping) if row else None


def for_survey(engine: Engine, survey_id: int) -> list[AlertRow]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alerts).where(alerts.c.survey_id == survey_id).order_by(alerts.c.id))
        return [AlertRow(**r._mapping) for r in rows]


def claim_due(engine: Engine, now: datetime, limit: int = 20) -> list[int]:
    """Pending alerts whose retry time has come (or whose poster died), leased to the caller."""
    rows = _QUEUE.claim(
        engine,
        due=sa.and_(alerts.c.state == PENDING, alerts.c.next_attempt_at <= now),
        order_by=[alerts.c.next_attempt_at],
        now=now,
        lease=POST_LEASE,
        limit=limit,
        values={"needs_update": False},
    )
    return [r.id for r in rows]


def mark_posted(engine: Engine, alert_id: int, message_ref: str) -> bool:
    """Record the message; True when the answer changed while we were posting (update it again)."""
    with engine.begin() as conn:
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(state=POSTED, message_ref=message_ref, next_attempt_at=None)
        )
        return bool(conn.execute(sa.select(alerts.c.needs_update).where(alerts.c.id == alert_id)).scalar_one())


def mark_retry(engine: Engine, alert_id: int, next_attempt_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id, alerts.c.state == PENDING)
            .values(next_attempt_at=next_attempt_at)
        )


def mark_failed(engine: Engine, alert_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(alerts.update().where(alerts.c.id == alert_id).values(state=FAILED, next_attempt_at=None))


def withdraw_pending(engine: Engine, alert_id: int) -> bool:
    """The score went above the alert's threshold before it was ever posted: nothing to show."""
    with engine.begin() as conn:
        return (
            conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id, alerts.c.state == PENDING)
                # A post already on its way lands anyway: needs_update makes its poster rewrite it.
                .values(state=WITHDRAWN, next_attempt_at=None, needs_update=True)
            ).rowcount
            == 1
        )


def revive(engine: Engine, alert_id: int, now: datetime) -> int | None:
    """The score dropped back under the threshold: a withdrawn alert is pending again, leased to the
    caller; returns its attempt count, or None when it was not withdrawn."""
    with engine.begin() as conn:
        return conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id, alerts.c.state == WITHDRAWN)
            .values(state=PENDING, attempts=alerts.c.attempts + 1, next_attempt_at=now + POST_LEASE, needs_update=False)
            .returning(alerts.c.attempts)
        ).scalar()


def set_needs_update(engine: Engine, alert_id: int, value: bool) -> None:
    with engine.begin() as conn:
        conn.execute(alerts.update().where(alerts.c.id == alert_id).values(needs_update=value))


def updates_due(engine: Engine, now: datetime, limit: int = 20) -> list[int]:
    """Posted alerts whose message could not be refreshed last time and whose backoff has passed."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(alerts.c.id)
                .where(
                    alerts.c.state == POSTED,
                    alerts.c.needs_update.is_(True),
                    sa.or_(alerts.c.next_attempt_at.is_(None), alerts.c.next_attempt_at <= now),
                )
                .order_by(alerts.c.id)
                .limit(limit)
            ).scalars()
        )


def mark_updated(engine: Engine, alert_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(alerts.update().where(alerts.c.id == alert_id).values(next_attempt_at=None))


def update_failed(engine: Engine, alert_id: int, retry_at: datetime | None) -> None:
    """A message edit failed: try again at `retry_at`, or give up on it when that is None."""
    with engine.begin() as conn:
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(attempts=alerts.c.attempts + 1, next_attempt_at=retry_at, needs_update=retry_at is not None)
        )


def take_on(engine: Engine, alert_id: int, user: str, now: datetime) -> bool:
    """A person takes on the follow-up ("I'm on it"): the first one wins; clicking again changes nothing."""
    with engine.begin() as conn:
        return (
            conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id, alerts.c.claimed_by.is_(None), alerts.c.resolved_at.is_(None))
                .values(claimed_by=user, claimed_at=now)
            ).rowcount
            == 1
        )


def resolve(conn: Connection, alert_id: int, user: str, outcome: str, now: datetime) -> bool:
    """Close the loop once; the resolver also counts as the one who followed up if nobody claimed."""
    return (
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id, alerts.c.resolved_at.is_(None))
            .values(
                resolved_by=user,
                resolved_at=now,
                outcome=outcome,
                claimed_by=sa.func.coalesce(alerts.c.claimed_by, user),
                claimed_at=sa.func.coalesce(alerts.c.claimed_at, now),
            )
        ).rowcount
        == 1
    )


@dataclass(frozen=True, slots=True)
class OpenFollowUp:
    alert_id: int
    survey_id: int
    channel_id: str
    message_ref: str | None
    score: int | None
    customer_name: str | None
    claimed_by: str | None
    created_at: datetime
    kind: str = "nps"


def _still_alerting() -> sa.ColumnElement[bool]:
    """The answer is still at or under its rule's threshold (the rule's max_score, else the unhappy
    band of the survey's kind): an alert whose score was raised above it needs no follow-up."""
    default = sa.case(*((surveys.c.kind == k, group_bounds(k)[0]) for k in SCALES), else_=6)
    return responses.c.score <= sa.func.coalesce(subscriptions.c.max_score, default)


def open_follow_ups(engine: Engine, *, platform: str | None = None, limit: int = 10) -> list[OpenFollowUp]:
    """Posted, unresolved alerts that still need one, oldest first (the ones waiting longest matter most)."""
    query = (
        sa.select(
            alerts.c.id,
            alerts.c.survey_id,
            alerts.c.channel_id,
            alerts.c.message_ref,
            responses.c.score,
            customers.c.name,
            alerts.c.claimed_by,
            alerts.c.created_at,
            surveys.c.kind,
        )
        .select_from(
            alerts.join(surveys, surveys.c.id == alerts.c.survey_id)
            .join(subscriptions, subscriptions.c.id == alerts.c.subscription_id)
            .join(responses, responses.c.survey_id == surveys.c.id)
            .outerjoin(customers, customers.c.id == surveys.c.customer_id)
        )
        .where(alerts.c.state == POSTED, alerts.c.resolved_at.is_(None), _still_alerting())
        .order_by(alerts.c.created_at, alerts.c.id)
        .limit(limit)
    )
    if platform:
        query = query.where(subscriptions.c.platform == platform)
    with engine.connect() as conn:
        return [OpenFollowUp(*row) for row in conn.execute(query)]
