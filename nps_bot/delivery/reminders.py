"""One reminder for a sent survey nobody answered (`NPS_BOT_REMINDER_AFTER`), on the channel it went out on.

Run by the delivery worker on every poll, after the due surveys (not a PeriodicJob: it needs what the
worker has, the delivery channels by name and the unsubscribe check, and its rows are surveys). A
reminder is claimed with the lease primitive on the survey row, and `reminded_at` is stamped by that
same UPDATE, so any number of workers send it once. A worker that dies between the claim and the
send loses that reminder rather than risk a second one: at most one reminder, never two.

Never reminded: answered surveys (the state is no longer `sent`), surveys past `expires_at`, forgotten
customers (no customer key), unsubscribed addresses, and channels that do not declare `can_remind`
(a second public reply in a help-desk ticket can re-open a solved one). A reminder that has not gone
out a day after it fell due is stale and dropped (this also keeps the surveys sent long before the
setting was turned on from all being reminded at once).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from nps_bot.delivery import claims
from nps_bot.models import OutgoingSurvey, SurveyState
from nps_bot.plugin.ports import DeliveryChannel, DeliveryRetry, DeliveryUnavailable, Host
from nps_bot.store.leases import LeasedQueue, expired
from nps_bot.store.schema import surveys
from nps_bot.surveys import unsubscribe

log = logging.getLogger(__name__)

# The survey's own delivery attempts are not the reminder's: the claim leaves `attempts` alone.
REMINDER_QUEUE = LeasedQueue(surveys, attempts=None)
STALE_AFTER = timedelta(days=1)
RETRY_AFTER = timedelta(minutes=5)


def can_remind(channel: DeliveryChannel) -> bool:
    """Channels opt in with a class attribute `can_remind = True`; a channel that says nothing cannot."""
    return getattr(channel, "can_remind", False) is True


class Reminders:
    def __init__(self, ctx: Host, owner: str) -> None:
        self.ctx = ctx
        self.owner = owner

    def run_due(self) -> int:
        """Claim and send one batch of due reminders; returns how many were handled."""
        s = self.ctx.settings
        after = s.reminder_after
        if after is None:
            return 0
        channels = {c.name: c for c in self.ctx.delivery_channels() if can_remind(c)}
        if not channels:
            return 0
        now = self.ctx.clock.now()
        claimed = self._claim(now, after, list(channels), s.worker_batch_size)
        if not claimed:
            return 0
        names = dict(claimed)
        batch = claims.load_outgoing(self.ctx.engine, list(names), s.company_name, s.public_url)
        for survey, _, _ in batch:
            # attempts=1: this is the first try of this message; Slack must not adopt the first DM.
            reminder = dataclasses.replace(survey, reminder=True, attempts=1)
            try:
                self._send(reminder, channels[names[survey.id]])
            except Exception:  # one bad reminder must not stop the batch
                log.exception("survey %d: unexpected error while reminding", survey.id)
        return len(batch)

    def _claim(self, now: datetime, after: timedelta, channels: Sequence[str], limit: int) -> list[tuple[int, str]]:
        t = surveys
        due = sa.and_(
            t.c.state == SurveyState.SENT,
            t.c.reminded_at.is_(None),
            t.c.sent_at <= now - after,
            t.c.sent_at > now - after - STALE_AFTER,
            t.c.delivery_channel.in_(channels),
            t.c.customer_key.is_not(None),  # None once the customer was forgotten
            sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now),
            sa.or_(t.c.lease_until.is_(None), expired(t, now)),
        )
        rows = REMINDER_QUEUE.claim(
            self.ctx.engine,
            due=due,
            order_by=[t.c.sent_at],
            now=now,
            lease=self.ctx.settings.worker_lease,
            limit=limit,
            holder=self.owner,
            values={"reminded_at": now},
            returning=[t.c.delivery_channel],
        )
        return [(r.id, r.delivery_channel) for r in rows]

    def _send(self, survey: OutgoingSurvey, channel: DeliveryChannel) -> None:
        if unsubscribe.is_unsubscribed(self.ctx.surveys, survey.customer_email):
            self._finish(survey.id)  # reminded_at stays: never reminded
            log.info("survey %d: no reminder (%s)", survey.id, unsubscribe.REASON)
            return
        # Right before the external call: still ours, and still unanswered.
        if not self._still_ours(survey.id):
            self._finish(survey.id)
            log.info("survey %d: no reminder (answered meanwhile, or the claim was lost)", survey.id)
            return
        try:
            channel.deliver(survey)
        except DeliveryUnavailable as exc:
            self._finish(survey.id)
            log.info("survey %d: no reminder via %s: %s", survey.id, channel.name, exc)
            return
        except Exception as exc:  # passing failure: hand it back (reminded_at cleared) for a later poll
            retry_after = exc.retry_after if isinstance(exc, DeliveryRetry) else None
            wait = max(RETRY_AFTER, timedelta(seconds=retry_after or 0))
            self._finish(survey.id, reminded_at=None, lease_until=self.ctx.clock.now() + wait)
            log.warning("survey %d: reminder via %s failed (%s); retrying", survey.id, channel.name, exc)
            return
        # The first message keeps its delivery_ref: answers to either message land on the same survey.
        self._finish(survey.id, reminded_at=self.ctx.clock.now())
        log.info("survey %d reminded via %s", survey.id, channel.name)

    def _still_ours(self, survey_id: int) -> bool:
        now = self.ctx.clock.now()
        stmt = (
            surveys.update()
            .where(
                surveys.c.id == survey_id,
                surveys.c.lease_owner == self.owner,
                surveys.c.state == SurveyState.SENT,
            )
            .values(lease_until=now + self.ctx.settings.worker_lease)
        )
        with self.ctx.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def _finish(self, survey_id: int, **values: object) -> bool:
        return REMINDER_QUEUE.finish(self.ctx.engine, survey_id, self.owner, **values)
