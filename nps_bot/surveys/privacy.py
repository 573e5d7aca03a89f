"""Privacy controls: erase one person on request, and purge old personal data on a schedule.

Both keep the anonymous facts reports are made of (score, kind, team, agent, channel, tags, segment
attributes, dates), so every NPS figure stays the same, and erase what identifies or quotes the
customer: e-mail, name, Slack id, identity keys, ticket subject, free-text comment, reply context,
unsent outbound events and webhooks waiting in the intake queue that carry them. Alerts already
posted to Slack about those surveys are queued for an edit, so the messages lose the name and the
comment too. An address that unsubscribed stays on the suppression list (keeping it is what honours
the opt-out).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from nps_bot.models import PENDING_STATES, SurveyState
from nps_bot.reporting.rollups import tracked
from nps_bot.store.schema import alerts, customers, outbox, responses, surveys, webhook_intake

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Erased:
    customers: int
    surveys: int
    comments: int
    withdrawn: int  # surveys that were still to be sent
    events: int  # outbound events not yet delivered
    queued: int = 0  # webhooks waiting in the intake queue (or kept there as failed) that name them

    def __str__(self) -> str:
        return (
            f"{self.customers} customer record(s), {self.surveys} survey(s) "
            f"({self.comments} comment(s) erased, {self.withdrawn} unsent survey(s) withdrawn), "
            f"{self.events} pending outbound event(s) dropped, {self.queued} queued webhook(s) dropped"
        )


def forget(engine: Engine, email: str, now: datetime, *, actor: str) -> Erased:
    """Erase everything that identifies `email`'s owner; one transaction, and an audit line in the log
    (who asked and what was erased, never the address)."""
    address = email.strip().lower()
    with engine.begin() as conn:
        owner = sa.select(customers.c.id).where(sa.func.lower(customers.c.email) == address)
        people = list(conn.execute(owner).scalars())
        by_key = surveys.c.customer_key == f"email:{address}"
        mine = sa.or_(by_key, surveys.c.customer_id.in_(people)) if people else by_key
        ids = list(conn.execute(sa.select(surveys.c.id).where(mine)).scalars())
        erased = _erase(conn, people, ids, now, reason="forgotten on request")
        # Not yet scheduled: its survey would be withdrawn at once, and the row quotes the person.
        queued = conn.execute(
            webhook_intake.delete().where(sa.func.lower(webhook_intake.c.payload).contains(address, autoescape=True))
        ).rowcount
        erased = dataclasses.replace(erased, queued=int(queued or 0))
    log.warning("privacy: %s erased on request of %s", erased, actor)
    return erased


def purge_older_than(engine: Engine, cutoff: datetime, now: datetime) -> Erased:
    """Erase personal data of surveys created before `cutoff`, and of customers with nothing newer."""
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                sa.select(surveys.c.id).where(
                    surveys.c.created_at < cutoff,
                    sa.or_(surveys.c.customer_key.is_not(None), surveys.c.subject.is_not(None),
                           surveys.c.reply_context.is_not(None), surveys.c.id.in_(
                               sa.select(responses.c.survey_id).where(responses.c.comment.is_not(None)))),
                )
            ).scalars()
        )  # fmt: skip
        recent = sa.select(surveys.c.customer_id).where(
            surveys.c.created_at >= cutoff, surveys.c.customer_id.is_not(None)
        )
        people = list(
            conn.execute(
                sa.select(customers.c.id).where(
                    customers.c.updated_at < cutoff, customers.c.id.not_in(recent), customers.c.email.is_not(None)
                )
            ).scalars()
        )
        erased = _erase(conn, people, ids, now, reason="past the retention period")
        failed = conn.execute(  # webhooks that failed to schedule and were never retried
            webhook_intake.delete().where(webhook_intake.c.failed_at < cutoff)
        ).rowcount
        erased = dataclasses.replace(erased, queued=int(failed or 0))
    if erased.surveys or erased.customers or erased.queued:
        log.info("privacy: retention purge before %s: %s", cutoff.date().isoformat(), erased)
    return erased


def _erase(conn: Connection, people: Sequence[int], ids: Sequence[int], now: datetime, *, reason: str) -> Erased:
    """Scores, dates and segments stay, so the report rollups do not move; tracked all the same
    (unsent surveys change state here), so they stay equal to the raw rows whatever _erase becomes."""
    with tracked(conn, ids):
        comments, withdrawn = _erase_surveys(conn, ids, now, reason)
    for person in people:  # a unique key is required: a random one identifies no one
        conn.execute(
            customers.update()
            .where(customers.c.id == person)
            .values(key=f"forgotten:{uuid.uuid4().hex}", email=None, name=None, slack_user_id=None, updated_at=now)
        )
    events = _drop_pending_events(conn, set(ids))
    if ids:  # posted alerts quote the name and the comment: the alert job rewrites them from what is left
        conn.execute(
            alerts.update()
            .where(alerts.c.survey_id.in_(ids), alerts.c.state == "posted")  # followups.alerts.POSTED
            .values(needs_update=True, next_attempt_at=None)
        )
    return Erased(len(people), len(ids), comments, withdrawn, events)


def _erase_surveys(conn: Connection, ids: Sequence[int], now: datetime, reason: str) -> tuple[int, int]:
    comments = 0
    withdrawn = 0
    if ids:
        comments = conn.execute(
            responses.update()
            .where(responses.c.survey_id.in_(ids), responses.c.comment.is_not(None))
            .values(comment=None, updated_at=now)
        ).rowcount
        withdrawn = conn.execute(
            surveys.update()
            .where(surveys.c.id.in_(ids), surveys.c.state.in_([s.value for s in PENDING_STATES]))  # unsent: withdrawn
            .values(state=SurveyState.SUPPRESSED, reason=reason, updated_at=now)
        ).rowcount
        conn.execute(
            surveys.update()
            .where(surveys.c.id.in_(ids))
            .values(customer_key=None, subject=None, reply_context=None, updated_at=now)
        )
    return comments, withdrawn


def _drop_pending_events(conn: Connection, ids: set[int]) -> int:
    """Unsent outbound events quoting these surveys (names, comments) are dropped, not delivered."""
    if not ids:
        return 0
    pending = conn.execute(sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.state == "pending")).all()
    doomed = [row.id for row in pending if isinstance(row.payload, dict) and row.payload.get("survey_id") in ids]
    if doomed:
        conn.execute(outbox.delete().where(outbox.c.id.in_(doomed)))
    return len(doomed)


class RetentionJob:
    """A periodic job: once an hour, purge personal data older than NPS_BOT_RETENTION_DAYS."""

    name = "retention"
    every = timedelta(hours=1)

    def __init__(self, engine: Engine, days: int) -> None:
        self.engine = engine
        self.days = days
        self._last: datetime | None = None

    def run_due(self, now: datetime) -> int:
        if self._last is not None and now - self._last < self.every:
            return 0
        self._last = now
        erased = purge_older_than(self.engine, now - timedelta(days=self.days), now)
        return erased.surveys + erased.customers
