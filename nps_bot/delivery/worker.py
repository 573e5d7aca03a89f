"""The delivery worker: claims due surveys, hands each to the first channel that can reach the
customer, and records the outcome. Passing failures are retried with exponential backoff."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from nps_bot.delivery import claims
from nps_bot.delivery.heartbeat import Heartbeat
from nps_bot.delivery.reminders import Reminders
from nps_bot.models import OutgoingSurvey, SurveyState
from nps_bot.plugin.ports import (
    DeliveryChannel,
    DeliveryInDoubt,
    DeliveryRetry,
    DeliveryUnavailable,
    Host,
    SurveyEnricher,
)
from nps_bot.plugin.retry import backoff
from nps_bot.surveys import unsubscribe
from nps_bot.surveys.intake import WebhookIntake

log = logging.getLogger(__name__)
# Longest a poll spends scheduling queued webhooks before it delivers (the rest: next poll, at once).
INTAKE_SECONDS = 1.0


class Worker:
    def __init__(self, ctx: Host, owner: str | None = None, stop: threading.Event | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # Set on shutdown: the survey in hand is finished, the rest of the batch is handed back.
        self.stop = stop or threading.Event()
        self.intake = WebhookIntake(ctx.surveys)

    def run_once(self) -> int:
        """Schedule the webhooks waiting in the intake, deliver one batch of due surveys, send due
        reminders, then run the periodic jobs; returns items handled."""
        return self.schedule_queued() + self.deliver_due() + self.remind_due() + self.run_jobs()

    def schedule_queued(self) -> int:
        """Schedule waiting webhooks for at most INTAKE_SECONDS (a burst of closed tickets must not
        starve delivery); the rest waits for the next poll, which comes at once after a busy one."""
        try:
            return len(self.intake.drain_for(INTAKE_SECONDS, self.stop))
        except Exception:  # an outage: the rows wait, delivery still gets its turn
            log.exception("scheduling queued webhooks failed; they wait for the next poll")
            return 0

    def remind_due(self) -> int:
        # Part of the loop rather than a PeriodicJob: reminders go through this worker's channels.
        try:
            return Reminders(self.ctx, self.owner).run_due()
        except Exception:  # reminders failing must not starve survey delivery
            log.exception("sending reminders failed")
            return 0

    def run_jobs(self) -> int:
        handled = 0
        for job in self.ctx.periodic_jobs():
            try:
                handled += job.run_due(self.ctx.clock.now())
            except Exception:  # one failing job must not starve survey delivery
                log.exception("periodic job %s failed", job.name)
        return handled

    def deliver_due(self) -> int:
        """Claim and deliver one batch; returns how many surveys were handled."""
        s = self.ctx.settings
        now = self.ctx.clock.now()
        ids = claims.claim_due(self.ctx.engine, self.owner, now, s.worker_lease, s.worker_batch_size)
        if not ids:
            return 0
        batch = claims.load_outgoing(self.ctx.engine, ids, s.company_name, s.public_url)
        channels = self.ctx.delivery_channels()  # once per batch, not per survey
        with Heartbeat(ids, self._renew, self.ctx.clock.now, s.worker_lease) as heartbeat:
            for done, (survey, customer_key, expires_at) in enumerate(batch):
                if self.stop.is_set():
                    rest = [b[0].id for b in batch[done:]]
                    released = claims.release(self.ctx.engine, rest, self.owner, self.ctx.clock.now())
                    log.info("shutting down: handed %d claimed surveys back to the queue", released)
                    return done
                try:
                    self._handle(survey, customer_key, expires_at, channels)
                except Exception:  # one bad survey must not stop the batch; its lease lets it retry
                    log.exception("survey %d: unexpected error while delivering", survey.id)
                heartbeat.done(survey.id)
        return len(batch)

    def _renew(self, ids: list[int], now: datetime, lease: timedelta) -> set[int]:
        return claims.renew(self.ctx.engine, ids, self.owner, now, lease)

    def _handle(
        self,
        survey: OutgoingSurvey,
        customer_key: str | None,
        expires_at: datetime | None,
        channels: list[DeliveryChannel],
    ) -> None:
        now = self.ctx.clock.now()
        engine = self.ctx.engine
        throttle = self.ctx.settings.throttle_days
        if expires_at and now >= expires_at:
            self._skip(survey, SurveyState.EXPIRED, "not sent before expiry", now)
            return
        since = now - timedelta(days=throttle)
        if customer_key and throttle and claims.reached_recently(engine, customer_key, since, survey.id):
            self._skip(survey, SurveyState.SUPPRESSED, "throttled: surveyed recently", now)
            return
        if unsubscribe.is_unsubscribed(self.ctx.surveys, survey.customer_email):  # since it was scheduled
            self._skip(survey, SurveyState.SUPPRESSED, unsubscribe.REASON, now)
            return
        survey = self._enrich(survey)  # only for surveys that will be sent: it may call the vendor's API
        reasons: list[str] = []
        for channel in channels:
            # Check ownership (and extend the lease) right before each external call: a worker whose
            # lease was taken over must not send what the new holder is sending. The same UPDATE
            # stamps the attempt, so a worker that dies inside the call leaves it marked as in doubt.
            lease = self.ctx.settings.worker_lease
            if not claims.start_delivery(engine, survey.id, self.owner, self.ctx.clock.now(), lease):
                log.warning("survey %d: lease lost before delivery; left to the worker that holds it", survey.id)
                return
            try:
                delivered = channel.deliver(survey)
            except DeliveryUnavailable as exc:
                reasons.append(f"{channel.name}: {exc}")
                continue
            except DeliveryRetry as exc:
                in_doubt = isinstance(exc, DeliveryInDoubt)
                self._retry(survey, f"{channel.name}: {exc}", exc.retry_after, in_doubt=in_doubt)
                return
            except Exception as exc:  # unexpected: it may have failed after sending
                log.exception("survey %d: channel %s failed", survey.id, channel.name)
                self._retry(survey, f"{channel.name}: {type(exc).__name__}: {exc}", None, in_doubt=True)
                return
            recorded = claims.finish(
                engine,
                survey.id,
                self.owner,
                self.ctx.clock.now(),
                state=SurveyState.SENT,
                sent_at=self.ctx.clock.now(),
                delivery_channel=delivered.channel,
                delivery_ref=delivered.ref,
                last_error=None,
                reason=None,
            )
            if recorded:
                log.info("survey %d sent via %s", survey.id, delivered.channel)
            else:  # never report a delivery whose outcome could not be written
                log.error(
                    "survey %d: delivered via %s but the lease was lost before the outcome was recorded",
                    survey.id,
                    delivered.channel,
                )
            return
        reason = "; ".join(reasons) or "no delivery channel configured"
        claims.finish(engine, survey.id, self.owner, now, state=SurveyState.UNDELIVERABLE, reason=reason[:255])
        log.warning("survey %d undeliverable: %s", survey.id, reason)

    def _skip(self, survey: OutgoingSurvey, state: SurveyState, reason: str, now: datetime) -> None:
        """Close a survey that will not be sent, with the reason (while we still hold its lease)."""
        claims.finish(self.ctx.engine, survey.id, self.owner, now, state=state, reason=reason)
        log.info("survey %d not sent (%s): %s", survey.id, state, reason)

    def _enrich(self, survey: OutgoingSurvey) -> OutgoingSurvey:
        """Names for what the help desk's webhook named by id only (SurveyEnricher), stored before any
        channel shows the survey; a failure only costs the names, never the delivery."""
        enricher = self.ctx.integrations.get(survey.connector)
        if not isinstance(enricher, SurveyEnricher):
            return survey
        try:
            names = enricher.enrich_survey(survey)
            if names is None:
                return survey
            self.ctx.surveys.set_display_names(
                survey.id, agent_name=names.agent_name, team=names.team, attributes=names.attributes
            )
        except Exception:
            log.exception("survey %d: naming its agent and team through %s failed", survey.id, survey.connector)
            return survey
        return dataclasses.replace(survey, agent_name=names.agent_name or survey.agent_name)

    def _retry(self, survey: OutgoingSurvey, error: str, retry_after: float | None, *, in_doubt: bool) -> None:
        now = self.ctx.clock.now()
        attempts = survey.attempts
        if attempts >= self.ctx.settings.max_delivery_attempts:
            claims.finish(
                self.ctx.engine,
                survey.id,
                self.owner,
                now,
                in_doubt=in_doubt,
                state=SurveyState.FAILED,
                last_error=error[:2000],
                reason="delivery failed",
            )
            log.error("survey %d failed after %d attempts: %s", survey.id, attempts, error)
            return
        due = now + backoff(attempts, retry_after)
        claims.finish(
            self.ctx.engine,
            survey.id,
            self.owner,
            now,
            in_doubt=in_doubt,
            state=SurveyState.SCHEDULED,
            due_at=due,
            last_error=error[:2000],
        )
        log.warning("survey %d: attempt %d failed (%s); retrying at %s", survey.id, attempts, error, due.isoformat())

    def run_forever(self, stop: threading.Event) -> None:
        self.stop = stop
        interval = self.ctx.settings.worker_poll_interval.total_seconds()
        log.info("worker %s polling every %.1fs", self.owner, interval)
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("worker poll failed; retrying")
                handled = 0
            if not handled:
                stop.wait(interval)
