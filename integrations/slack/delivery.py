"""Survey delivery as a Slack DM from the bot."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.api import SlackApi, error_code, retry_after, status_code
from integrations.slack.blocks.survey import survey_message
from nps_bot.models import Delivered, OutgoingSurvey
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable

log = logging.getLogger(__name__)

# Errors that mean "this person cannot be reached in Slack", not "try again later".
UNREACHABLE = frozenset(
    {
        "users_not_found",
        "user_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "channel_not_found",
    }
)


def raise_for_slack(exc: SlackApiError) -> None:
    """Translate a Slack failure into the worker's vocabulary."""
    code = error_code(exc)
    status = status_code(exc)
    if status == 429:
        raise DeliveryRetry("rate limited", retry_after(exc)) from None
    if code in UNREACHABLE:
        raise DeliveryUnavailable(code) from None  # the worker names the channel: "slack: users_not_found"
    raise DeliveryRetry(f"error {code} (HTTP {status})") from None


class SlackDmChannel:
    name = "slack"

    def __init__(self, client: WebClient) -> None:
        self.slack = SlackApi(client)

    def resolve_user(self, survey: OutgoingSurvey) -> str:
        if survey.slack_user_id:
            return survey.slack_user_id
        if not survey.customer_email:
            raise DeliveryUnavailable("customer has neither a Slack user id nor an e-mail address")
        try:
            user = self.slack.user_by_email(survey.customer_email)
        except SlackApiError as exc:
            raise_for_slack(exc)
        if user.get("deleted") or user.get("is_bot"):
            raise DeliveryUnavailable("Slack account is deactivated or a bot")
        return str(user["id"])

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        user_id = self.resolve_user(survey)
        text, blocks = survey_message(survey)
        try:
            ref = self.slack.post(user_id, text, blocks, unfurl_links=False)
        except SlackApiError as exc:
            raise_for_slack(exc)
        except OSError as exc:  # connection refused, DNS, timeout after the built-in retries
            raise DeliveryRetry(f"unreachable: {type(exc).__name__}") from None
        return Delivered(self.name, ref)
