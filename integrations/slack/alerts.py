"""Detractor alerts in Slack: post within seconds of the answer, keep one message per alert up to
date (comment, changed score, who follows up, outcome), and close the loop from its buttons.

The database is the source of truth (nps_bot.followups.alerts); a post that fails stays pending and
AlertRetryJob retries it with the worker's backoff, so Slack outages delay alerts but lose none.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks import Blocks, escape
from nps_bot.followups import alerts as alert_store
from nps_bot.followups import outbox as outbound
from nps_bot.followups.alerts import AlertRow, SurveyDetails
from nps_bot.followups.subscriptions import Subscription, list_for
from nps_bot.models import Answer
from nps_bot.plugin.ports import Host

log = logging.getLogger(__name__)

PLATFORM = "slack"
DEFAULT_MAX_SCORE = 6  # detractors
MAX_ATTEMPTS = 8
# Editing the message can never work again after these: stop trying instead of retrying for hours.
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found", "is_archived"})
CLAIM_ACTION = "nps_alert_claim"
RESOLVE_ACTION = "nps_alert_resolve"
OUTCOME_VIEW = "nps_alert_outcome"
OUTCOME_BLOCK = "outcome"
OUTCOME_MAX = 300


def threshold(sub: Subscription | None) -> int:
    return sub.max_score if sub and sub.max_score is not None else DEFAULT_MAX_SCORE


# -- Block Kit ---------------------------------------------------------------------------------


def _field(label: str, value: str | None) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{escape(value) if value else '—'}"}


def _ticket(d: SurveyDetails) -> str:
    label = escape(f"#{d.ticket_id}")
    return f"<{escape(d.ticket_url)}|{label}>" if d.ticket_url else label


def alert_message(d: SurveyDetails, alert: AlertRow, max_score: int) -> tuple[str, Blocks]:
    """The alert as text (notifications) and blocks; pure, so tests can check it directly."""
    group = d.group or "answer"
    who = escape(d.customer_name) if d.customer_name else "A customer"
    if d.score is not None and d.score > max_score:
        head = f":information_source: The customer changed the score to *{d.score}* ({group}); no follow-up needed."
    else:
        head = f":rotating_light: *{d.score}/10 — {group}* from {who}"
    # The fallback text shows in notifications: escaped too, so a customer name cannot ping @channel.
    text = f"{d.score}/10 ({group}) from {escape(d.customer_name or 'a customer')}, ticket #{escape(d.ticket_id)}"
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": head[:3000]}}]
    comment = f">{escape(d.comment)[:2900]}".replace("\n", "\n>") if d.comment else "_No comment yet._"
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": comment[:3000]}})
    blocks.append(
        {
            "type": "section",
            "fields": [
                _field("Customer", d.customer_name),
                _field("Agent", d.agent_name),
                _field("Team", d.team),
                _field("Help desk", d.connector),
                {"type": "mrkdwn", "text": f"*Ticket*\n{_ticket(d)}"},
            ],
        }
    )
    if alert.resolved_by:
        status = f":white_check_mark: Loop closed by <@{alert.resolved_by}>: {escape(alert.outcome or '')}"
    elif alert.claimed_by:
        status = f":eyes: <@{alert.claimed_by}> is following up"
    else:
        status = "Nobody is following up yet."
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status[:2000]}]})
    if not alert.resolved_by:
        buttons: list[dict[str, Any]] = []
        if not alert.claimed_by:
            buttons.append(_button(CLAIM_ACTION, "I'll follow up", alert.id, primary=True))
        buttons.append(_button(RESOLVE_ACTION, "Resolved", alert.id))
        blocks.append({"type": "actions", "block_id": f"nps_alert:{alert.id}", "elements": buttons})
    return text, blocks


def _button(action_id: str, label: str, alert_id: int, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": str(alert_id),
    }
    if primary:
        button["style"] = "primary"
    return button


def outcome_modal(alert_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": OUTCOME_VIEW,
        "private_metadata": str(alert_id),
        "title": {"type": "plain_text", "text": "Close the loop"},
        "submit": {"type": "plain_text", "text": "Resolved"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": OUTCOME_BLOCK,
                "label": {"type": "plain_text", "text": "What was the outcome?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": OUTCOME_BLOCK,
                    "max_length": OUTCOME_MAX,
                    "placeholder": {"type": "plain_text", "text": "e.g. Called her, refunded the VAT difference"},
                },
            }
        ],
    }


# -- the service: database + Slack, sync (runs in worker threads) --------------------------------


class AlertService:
    def __init__(self, ctx: Host, client: WebClient) -> None:
        self.ctx = ctx
        self.client = client

    def _subscription(self, subscription_id: int) -> Subscription | None:
        return next(
            (s for s in list_for(self.ctx.engine, platform=PLATFORM, kind="alert") if s.id == subscription_id), None
        )

    def on_answer(self, answer: Answer) -> None:
        if answer.survey.kind != "nps":
            return
        subs = list_for(self.ctx.engine, platform=PLATFORM, kind="alert")
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
        return alert_message(details, alert, threshold(self._subscription(alert.subscription_id)))

    def post(self, alert_id: int, attempts: int) -> bool:
        alert = alert_store.get(self.ctx.engine, alert_id)
        rendered = alert and self._render(alert)
        if not alert or not rendered:
            return False
        text, blocks = rendered
        try:
            result = self.client.chat_postMessage(
                channel=alert.channel_id, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except (SlackApiError, OSError) as exc:
            self._post_failed(alert, attempts, exc)
            return False
        if alert_store.mark_posted(self.ctx.engine, alert.id, f"{result['channel']}:{result['ts']}"):
            self.refresh(alert.id)
        return True

    def _post_failed(self, alert: AlertRow, attempts: int, exc: Exception) -> None:
        from nps_bot.delivery.worker import backoff

        reason = _error(exc)
        if attempts >= MAX_ATTEMPTS:
            log.warning("alert %d: giving up after %d attempts: %s", alert.id, attempts, reason)
            alert_store.mark_failed(self.ctx.engine, alert.id)
            return
        next_at = self.ctx.clock.now() + backoff(attempts, _retry_after(exc))
        log.info("alert %d: post failed (%s); retrying at %s", alert.id, reason, next_at.isoformat())
        alert_store.mark_retry(self.ctx.engine, alert.id, next_at)

    def refresh(self, alert_id: int) -> bool:
        """Rewrite the posted message from the database; on failure the retry job tries again."""
        alert_store.set_needs_update(self.ctx.engine, alert_id, False)  # before reading: later changes re-flag
        alert = alert_store.get(self.ctx.engine, alert_id)
        if not alert or alert.state != alert_store.POSTED or not alert.message_ref:
            return False
        rendered = self._render(alert)
        if not rendered:
            return False
        channel, _, ts = alert.message_ref.partition(":")
        try:
            self.client.chat_update(channel=channel, ts=ts, text=rendered[0], blocks=rendered[1])
        except (SlackApiError, OSError) as exc:
            self._update_failed(alert, exc)
            return False
        alert_store.mark_updated(self.ctx.engine, alert_id)
        return True

    def _update_failed(self, alert: AlertRow, exc: Exception) -> None:
        from nps_bot.delivery.worker import backoff

        reason = _error(exc)
        attempts = alert.attempts + 1
        if reason in GONE or attempts >= MAX_ATTEMPTS:
            log.warning("alert %d: giving up updating the message: %s", alert.id, reason)
            alert_store.update_failed(self.ctx.engine, alert.id, None)
            return
        # Backoff, not every poll: hammering Slack during an outage or a rate limit only prolongs it.
        retry_at = self.ctx.clock.now() + backoff(attempts, _retry_after(exc))
        log.info("alert %d: message update failed (%s); retrying at %s", alert.id, reason, retry_at.isoformat())
        alert_store.update_failed(self.ctx.engine, alert.id, retry_at)

    def claim(self, alert_id: int, user: str) -> AlertRow | None:
        """Claim for `user` (first click wins) and show it; returns the alert as it now stands."""
        if alert_store.take_on(self.ctx.engine, alert_id, user, self.ctx.clock.now()):
            self.refresh(alert_id)
        return alert_store.get(self.ctx.engine, alert_id)

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


def _error(exc: Exception) -> str:
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__


def _retry_after(exc: Exception) -> float | None:
    if not isinstance(exc, SlackApiError):
        return None
    headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
    try:
        return float(headers["retry-after"]) if headers.get("retry-after") else None
    except (TypeError, ValueError):
        return None


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
            alert = alert_store.get(self.ctx.engine, alert_id)
            if alert is not None:
                self.service.post(alert_id, attempts=alert.attempts)
                handled += 1
        for alert_id in alert_store.updates_due(self.ctx.engine, now):
            handled += self.service.refresh(alert_id)
        return handled


# -- Bolt listeners ----------------------------------------------------------------------------


def register_alert_handlers(app: AsyncApp, ctx: Host, sync_client: WebClient) -> AlertService:
    service = AlertService(ctx, sync_client)

    async def tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if channel:
            await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)

    def alert_id_of(action: dict[str, Any]) -> int | None:
        try:
            return int(str(action.get("value", "")))
        except ValueError:
            return None

    @app.action(CLAIM_ACTION)
    async def on_claim(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        if (alert_id := alert_id_of(action)) is None:
            return
        alert = await asyncio.to_thread(service.claim, alert_id, user)
        if alert is None:
            await tell(client, body, ":warning: This alert no longer exists.")
        elif alert.resolved_by and alert.claimed_by != user:
            await tell(client, body, f"<@{alert.resolved_by}> already closed this loop.")
        elif alert.claimed_by != user:
            await tell(client, body, f"<@{alert.claimed_by}> is already following up.")

    @app.action(RESOLVE_ACTION)
    async def on_resolve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if (alert_id := alert_id_of(action)) is None:
            return
        alert = await asyncio.to_thread(alert_store.get, ctx.engine, alert_id)
        if alert is None:
            await tell(client, body, ":warning: This alert no longer exists.")
        elif alert.resolved_by:
            await tell(client, body, f"<@{alert.resolved_by}> already closed this loop.")
        else:
            try:
                await client.views_open(trigger_id=body["trigger_id"], view=outcome_modal(alert_id))
            except SlackApiError as exc:  # the trigger lives 3 s; a slow click can outlive it
                log.info("alert %d: outcome modal not opened: %s", alert_id, exc.response.get("error"))

    @app.view(OUTCOME_VIEW)
    async def on_outcome(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        raw = view["state"]["values"].get(OUTCOME_BLOCK, {}).get(OUTCOME_BLOCK, {}).get("value") or ""
        outcome = " ".join(raw.split())  # one line, whatever was pasted
        if not outcome:
            await ack(response_action="errors", errors={OUTCOME_BLOCK: "Say in a line what was done."})
            return
        if len(outcome) > OUTCOME_MAX:
            await ack(response_action="errors", errors={OUTCOME_BLOCK: f"At most {OUTCOME_MAX} characters."})
            return
        await ack()
        try:
            alert_id = int(view.get("private_metadata", ""))
        except ValueError:
            return
        await asyncio.to_thread(service.resolve, alert_id, body["user"]["id"], outcome)

    return service
