"""Button clicks: survey scores, "add a comment", and the alert's follow-up buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks.alerts import outcome_modal
from integrations.slack.blocks.kit import escape, mention
from integrations.slack.blocks.survey import comment_modal
from integrations.slack.listeners.base import AnswerListeners, answer_taken, clicked_in, in_thread, open_view, tell
from integrations.slack.services.surveys import NotRecipient
from nps_bot.surveys.service import SurveyError

GONE = ":warning: This alert no longer exists."


def refusal(exc: SurveyError) -> str:
    """What the clicker sees: a polite no for someone else's survey, the reason otherwise."""
    return escape(str(exc)) if isinstance(exc, NotRecipient) else f":warning: {escape(str(exc))}"


def _alert_id(action: dict[str, Any]) -> int | None:
    try:
        return int(str(action.get("value", "")))
    except ValueError:
        return None


class Actions(AnswerListeners):
    async def score(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        value, user = str(action.get("value", "")), body["user"]["id"]
        try:
            answer = await in_thread(self.surveys.score, value, user, clicked_in(body))
        except SurveyError as exc:
            await tell(client, body, refusal(exc))
            return
        if answer.previous_score is None and body.get("trigger_id"):
            # First answer: ask "why" straight away while the trigger is fresh (it lives 3 s).
            await open_view(client, body, comment_modal(answer), f"survey {answer.survey.id}: comment modal")
        await answer_taken(client, self.surveys, self.company, answer)

    async def comment(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        try:
            answer = await in_thread(
                self.surveys.current, str(action.get("value", "")), body["user"]["id"], clicked_in(body)
            )
        except SurveyError as exc:
            await tell(client, body, refusal(exc))
            return
        await open_view(client, body, comment_modal(answer), f"survey {answer.survey.id}: comment modal")

    async def claim(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        if (alert_id := _alert_id(action)) is None:
            return
        alert = await in_thread(self.alerts.claim, alert_id, user)
        if alert is None:
            await tell(client, body, GONE)
        elif alert.resolved_by and alert.claimed_by != user:
            await tell(client, body, f"{mention(alert.resolved_by)} already closed this loop.")
        elif alert.claimed_by != user:
            await tell(client, body, f"{mention(alert.claimed_by)} is already following up.")

    async def resolve(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        if (alert_id := _alert_id(action)) is None:
            return
        alert = await in_thread(self.alerts.get, alert_id)
        if alert is None:
            await tell(client, body, GONE)
        elif alert.resolved_by:
            await tell(client, body, f"{mention(alert.resolved_by)} already closed this loop.")
        else:
            await open_view(client, body, outcome_modal(alert_id), f"alert {alert_id}: outcome modal")
