"""Modal submissions: the customer's "why", and the outcome that closes an alert's loop."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks.alerts import OUTCOME_BLOCK
from integrations.slack.blocks.kit import input_value
from integrations.slack.blocks.survey import COMMENT_BLOCK
from integrations.slack.listeners.base import AnswerListeners, answer_taken, in_thread
from integrations.slack.services.alerts import outcome_problem
from nps_bot.surveys.service import SurveyError


class Views(AnswerListeners):
    async def comment(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        token = view.get("private_metadata", "")
        try:
            answer = await in_thread(self.surveys.comment, token, input_value(view, COMMENT_BLOCK), body["user"]["id"])
        except SurveyError as exc:
            await ack(response_action="errors", errors={COMMENT_BLOCK: str(exc)})
            return
        await ack()
        await answer_taken(client, self.surveys, self.company, answer)

    async def outcome(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        outcome = " ".join(input_value(view, OUTCOME_BLOCK).split())  # one line, whatever was pasted
        if problem := outcome_problem(outcome):
            await ack(response_action="errors", errors={OUTCOME_BLOCK: problem})
            return
        await ack()
        try:
            alert_id = int(view.get("private_metadata", ""))
        except ValueError:
            return
        await in_thread(self.alerts.resolve, alert_id, body["user"]["id"], outcome)
