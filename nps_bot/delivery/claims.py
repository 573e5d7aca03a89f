"""Due surveys for the delivery worker: any number of workers can poll; each survey goes to one of them
(leased through nps_bot.store.leases). A worker that dies leaves its lease to expire, and the survey
is claimed again."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine

from nps_bot.models import REACHED_STATES, OutgoingSurvey, SurveyState
from nps_bot.reporting.rollups import tracked
from nps_bot.store.leases import LeasedQueue, expired
from nps_bot.store.schema import customers, surveys

SURVEY_QUEUE = LeasedQueue(surveys)


def claim_due(engine: Engine, owner: str, now: datetime, lease: timedelta, limit: int) -> list[int]:
    due = sa.or_(
        sa.and_(surveys.c.state == SurveyState.SCHEDULED, surveys.c.due_at <= now),
        sa.and_(surveys.c.state == SurveyState.SENDING, expired(surveys, now)),
    )
    rows = SURVEY_QUEUE.claim(
        engine,
        due=due,
        order_by=[surveys.c.due_at],
        now=now,
        lease=lease,
        limit=limit,
        holder=owner,
        values={"state": SurveyState.SENDING, "updated_at": now},
    )
    return [r.id for r in rows]


def renew(engine: Engine, ids: list[int], owner: str, now: datetime, lease: timedelta) -> set[int]:
    """Extend our lease on surveys still being delivered; returns those we still hold."""
    return SURVEY_QUEUE.renew(engine, ids, owner, now, lease)


def start_delivery(engine: Engine, survey_id: int, owner: str, now: datetime, lease: timedelta) -> bool:
    """Right before a channel is handed the survey: extend our lease and stamp `post_attempted_at` in one
    UPDATE, committed before the channel can send anything. False when the survey is no longer ours."""
    sending = [surveys.c.state == SurveyState.SENDING]
    return bool(SURVEY_QUEUE.renew(engine, [survey_id], owner, now, lease, where=sending, post_attempted_at=now))


def release(engine: Engine, ids: list[int], owner: str, now: datetime) -> int:
    """Hand claimed surveys we will not deliver (shutting down) back to the queue, due at once; the
    attempt their claim counted did not happen."""
    if not ids:
        return 0
    stmt = (
        surveys.update()
        .where(surveys.c.id.in_(ids), surveys.c.lease_owner == owner, surveys.c.state == SurveyState.SENDING)
        .values(
            state=SurveyState.SCHEDULED,
            lease_owner=None,
            lease_until=None,
            attempts=surveys.c.attempts - 1,
            updated_at=now,
        )
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount


def load_outgoing(
    engine: Engine, ids: list[int], company: str, public_url: str
) -> list[tuple[OutgoingSurvey, str | None, datetime | None]]:
    """The claimed surveys with what delivery needs, plus customer key and expiry for policy checks."""
    query = (
        sa.select(surveys, customers.c.name, customers.c.email, customers.c.slack_user_id)
        .select_from(surveys.outerjoin(customers, customers.c.id == surveys.c.customer_id))
        .where(surveys.c.id.in_(ids))
        .order_by(surveys.c.due_at)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    base = public_url.rstrip("/")
    return [
        (
            OutgoingSurvey(
                id=r.id,
                token=r.token,
                kind=r.kind,
                language=r.language,
                company=company,
                survey_url=f"{base}/s/{r.token}",
                connector=r.connector,
                ticket_id=r.ticket_id,
                ticket_url=r.ticket_url,
                subject=r.subject,
                customer_name=r.name,
                customer_email=r.email,
                slack_user_id=r.slack_user_id,
                agent_name=r.agent_name,
                attempts=r.attempts,
                reply_context=dict(r.reply_context or {}),
                maybe_delivered=r.post_attempted_at is not None,
            ),
            r.customer_key,
            r.expires_at,
        )
        for r in rows
    ]


def finish(
    engine: Engine, survey_id: int, owner: str, now: datetime, *, in_doubt: bool = False, **values: object
) -> bool:
    """Write a delivery outcome, only while we still hold the lease (a slow worker must not clobber).
    The `post_attempted_at` stamp is cleared, unless the outcome is `in_doubt` (the channel cannot tell
    whether the survey went out): then the next attempt looks before sending.
    A send (state and sent_at) moves the report rollups in the same transaction; any other outcome
    leaves them alone (a survey being sent counts in no rollup), so it skips their two reads."""
    if not in_doubt:
        values["post_attempted_at"] = None
    stmt = (
        surveys.update()
        .where(surveys.c.id == survey_id, surveys.c.lease_owner == owner, surveys.c.state == SurveyState.SENDING)
        .values(lease_owner=None, lease_until=None, updated_at=now, **values)
    )
    with engine.begin() as conn:
        if values.get("state") not in REACHED_STATES:
            return conn.execute(stmt).rowcount == 1
        with tracked(conn, [survey_id]):
            return conn.execute(stmt).rowcount == 1


def reached_recently(engine: Engine, customer_key: str, since: datetime, exclude_id: int) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.select(surveys.c.id)
                .where(
                    surveys.c.customer_key == customer_key,
                    surveys.c.id != exclude_id,
                    surveys.c.sent_at >= since,
                    surveys.c.state.in_([s.value for s in REACHED_STATES]),
                )
                .limit(1)
            ).first()
            is not None
        )
