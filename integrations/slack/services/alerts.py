"""Detractor alerts in Slack: post within seconds of the answer, keep one message per alert up to
date (comment, changed score, who follows up, outcome), and close the loop from its buttons.

The database is the source of truth (nps_bot.followups.alerts); a post that fails stays pending and
AlertRetryJob retries it with the worker's backoff, so Slack outages delay alerts but lose none.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.api import NO_UNFURL, SlackApi, error_code, retry_after
from integrations.slack.blocks.alerts import OUTCOME_MAX, alert_message
from integrations.slack.blocks.kit import Blocks
from integrations.slack.services import PLATFORM
from nps_bot.followups import alerts as alert_store
from nps_bot.followups import outbox as outbound
from nps_bot.followups.alerts import AlertRow
from nps_bot.followups.subscriptions import Subscription, list_for
from nps_bot.models import Answer
from nps_bot.plugin.ports import Host
from nps_bot.plugin.retry import backoff
from nps_bot.reporting.queries import group_bounds

log = logging.getLogger(__name__)

DEFAULT_MAX_SCORE = 6  # NPS detractors
MAX_ATTEMPTS = 8
# Editing the message can never work again after these: stop trying instead of retrying for hours.
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found", "is_archived"})


def threshold(sub: Subscription | None) -> int:
    """The highest score the rule alerts on: its own, else the unhappy band of its survey kind."""
    if sub and sub.max_score is not None:
        return sub.max_score
    return group_bounds(sub.survey_kind)[0] if sub else DEFAULT_MAX_SCORE


def outcome_problem(outcome: str) -> str | None:
    """Why a typed outcome (already on one line) cannot close the loop, or None when it can."""
    if not outcome:
        return "Say in a line what was done."
    if len(outcome) > OUTCOME_MAX:
        return f"At most {OUTCOME_MAX} characters."
    return None


class AlertService:
    def __init__(self, ctx: Host, client: WebClient) -> None:
        self.ctx = ctx
        self.slack = SlackApi(client)

    def _subscriptions(self) -> list[Subscription]:
        return list_for(self.ctx.engine, platform=PLATFORM, kind="alert")

    def get(self, alert_id: int) -> AlertRow | None:
        return alert_store.get(self.ctx.engine, alert_id)

    def on_answer(self, answer: Answer) -> None:
        subs = [s for s in self._subscriptions() if s.survey_kind == answer.survey.kind]
        if not subs:
            return
        existing = {a.subscription_id: a for a in alert_store.for_survey(self.ctx.engine, answer.survey.id)}
        for sub in subs:
            alert = existing.get(sub.id)
            if alert is not None:
                self._answer_changed(alert, answer.score > threshold(sub))
            elif answer.score <= threshold(sub) and (alert_id := self._create(sub, answer.survey.id)):
                self.post(alert_id, attempts=1)

    def _create(self, sub: Subscription, survey_id: int) -> int | None:
        now = self.ctx.clock.now()
        with self.ctx.engine.begin() as conn:
            if not alert_store.matches_filter(conn, survey_id, sub.filter_dimension, sub.filter_value):
                return None
            alert_id = alert_store.create(conn, survey_id, sub.id, sub.channel_id, now)
            details = alert_store.survey_details(conn, survey_id)
            if alert_id and details:
                payload = {"alert_id": alert_id, "channel_id": sub.channel_id, **details.as_payload()}
                outbound.enqueue(conn, outbound.ALERT_CREATED, payload, now)
            return alert_id

    def _answer_changed(self, alert: AlertRow, above_threshold: bool) -> None:
        if alert.state == alert_store.PENDING:
            if above_threshold:
                alert_store.withdraw_pending(self.ctx.engine, alert.id)
            else:
                # A post may be in flight with the old text: it refreshes the message when it sees this.
                alert_store.set_needs_update(self.ctx.engine, alert.id, True)
        elif alert.state == alert_store.POSTED:
            self.refresh(alert.id)
        elif alert.state == alert_store.WITHDRAWN and not above_threshold:
            # Withdrawn before it was ever posted, and low again: it is an alert after all.
            attempts = alert_store.revive(self.ctx.engine, alert.id, self.ctx.clock.now())
            if attempts is not None:
                self.post(alert.id, attempts)

    def _render(self, alert: AlertRow) -> tuple[str, Blocks] | None:
        with self.ctx.engine.connect() as conn:
            details = alert_store.survey_details(conn, alert.survey_id)
        if details is None:
            return None
        sub = next((s for s in self._subscriptions() if s.id == alert.subscription_id), None)
        return alert_message(details, alert, threshold(sub))

    def _retry_at(self, attempts: int, exc: Exception) -> datetime:
        # Backoff, not every poll: hammering Slack during an outage or a rate limit only prolongs it.
        return self.ctx.clock.now() + backoff(attempts, retry_after(exc))

    def post(self, alert_id: int, attempts: int) -> bool:
        alert = self.get(alert_id)
        rendered = alert and self._render(alert)
        if not alert or not rendered:
            return False
        try:
            ref = self.slack.post(alert.channel_id, *rendered, **NO_UNFURL)
        except (SlackApiError, OSError) as exc:
            self._post_failed(alert, attempts, exc)
            return False
        if alert_store.mark_posted(self.ctx.engine, alert.id, ref):
            self.refresh(alert.id)
        return True

    def _post_failed(self, alert: AlertRow, attempts: int, exc: Exception) -> None:
        reason = error_code(exc)
        if attempts >= MAX_ATTEMPTS:
            log.warning("alert %d: giving up after %d attempts: %s", alert.id, attempts, reason)
            alert_store.mark_failed(self.ctx.engine, alert.id)
            return
        next_at = self._retry_at(attempts, exc)
        log.info("alert %d: post failed (%s); retrying at %s", alert.id, reason, next_at.isoformat())
        alert_store.mark_retry(self.ctx.engine, alert.id, next_at)

    def refresh(self, alert_id: int) -> bool:
        """Rewrite the posted message from the database; on failure the retry job tries again."""
        alert_store.set_needs_update(self.ctx.engine, alert_id, False)  # before reading: later changes re-flag
        alert = self.get(alert_id)
        if not alert or alert.state != alert_store.POSTED or not alert.message_ref:
            return False
        rendered = self._render(alert)
        if not rendered:
            return False
        try:
            self.slack.update(alert.message_ref, *rendered)
        except (SlackApiError, OSError) as exc:
            self._update_failed(alert, exc)
            return False
        alert_store.mark_updated(self.ctx.engine, alert_id)
        return True

    def _update_failed(self, alert: AlertRow, exc: Exception) -> None:
        reason = error_code(exc)
        attempts = alert.attempts + 1
        if reason in GONE or attempts >= MAX_ATTEMPTS:
            log.warning("alert %d: giving up updating the message: %s", alert.id, reason)
            alert_store.update_failed(self.ctx.engine, alert.id, None)
            return
        retry_at = self._retry_at(attempts, exc)
        log.info("alert %d: message update failed (%s); retrying at %s", alert.id, reason, retry_at.isoformat())
        alert_store.update_failed(self.ctx.engine, alert.id, retry_at)

    def claim(self, alert_id: int, user: str) -> AlertRow | None:
        """Claim for `user` (first click wins) and show it; returns the alert as it now stands."""
        if alert_store.take_on(self.ctx.engine, alert_id, user, self.ctx.clock.now()):
            self.refresh(alert_id)
        return self.get(alert_id)

    def resolve(self, alert_id: int, user: str, outcome: str) -> bool:
        now = self.ctx.clock.now()
        with self.ctx.engine.begin() as conn:
            if not alert_store.resolve(conn, alert_id, user, outcome, now):
                return False
            alert = alert_store.get(conn, alert_id)
            assert alert is not None
            details = alert_store.survey_details(conn, alert.survey_id)
            payload = {
                "alert_id": alert_id,
                "resolved_by": user,
                "claimed_by": alert.claimed_by,
                "outcome": outcome,
                "resolved_at": now.isoformat(),
                **(details.as_payload() if details else {}),
            }
            outbound.enqueue(conn, outbound.LOOP_CLOSED, payload, now)
        self.refresh(alert_id)
        return True


class AlertListener:
    """AnswerListener for Host: every score/comment may create or update Slack alerts."""

    name = "slack-alerts"

    def __init__(self, ctx: Host, client: WebClient) -> None:
        self.service = AlertService(ctx, client)

    def on_answer(self, answer: Answer) -> None:
        self.service.on_answer(answer)


class AlertRetryJob:
    """PeriodicJob: posts alerts whose first post failed, and re-sends message updates that failed."""

    name = "slack-alert-retry"

    def __init__(self, ctx: Host, client: WebClient) -> None:
        self.ctx = ctx
        self.service = AlertService(ctx, client)

    def run_due(self, now: datetime) -> int:
        handled = 0
        for alert_id in alert_store.claim_due(self.ctx.engine, now):
            alert = self.service.get(alert_id)
            if alert is not None:
                self.service.post(alert_id, attempts=alert.attempts)
                handled += 1
        for alert_id in alert_store.updates_due(self.ctx.engine, now):
            handled += self.service.refresh(alert_id)
        return handled
