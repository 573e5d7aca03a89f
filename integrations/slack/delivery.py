"""Survey delivery as a Slack DM from the bot."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.blocks import survey_message
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


def _error_code(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error")) if isinstance(data, dict) else "unknown_error"


def raise_for_slack(exc: SlackApiError) -> None:
    """Translate a Slack failure into the worker's vocabulary."""
    code = _error_code(exc)
    status = exc.response.status_code if exc.response is not None else 0
    if status == 429:
        headers = exc.response.headers or {}
        wait = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if isinstance(wait, list):
            wait = wait[0] if wait else None
        raise DeliveryRetry("slack rate limited", float(wait) if wait else None) from None
    if code in UNREACHABLE:
        raise DeliveryUnavailable(f"slack: {code}") from None
    raise DeliveryRetry(f"slack error {code} (HTTP {status})") from None


class SlackDmChannel:
    name = "slack"

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def resolve_user(self, survey: OutgoingSurvey) -> str:
        if survey.slack_user_id:
            return survey.slack_user_id
        if not survey.customer_email:
            raise DeliveryUnavailable("customer has neither a Slack user id nor an e-mail address")
        try:
            response = self.client.users_lookupByEmail(email=survey.customer_email)
        except SlackApiError as exc:
            raise_for_slack(exc)
        user = response.get("user") or {}
        if user.get("deleted") or user.get("is_bot"):
            raise DeliveryUnavailable("Slack account is deactivated or a bot")
        return str(user["id"])

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        user_id = self.resolve_user(survey)
        text, blocks = survey_message(survey)
        try:
            response = self.client.chat_postMessage(channel=user_id, text=text, blocks=blocks, unfurl_links=False)
        except SlackApiError as exc:
            raise_for_slack(exc)
        except OSError as exc:  # connection refused, DNS, timeout after the built-in retries
            raise DeliveryRetry(f"slack unreachable: {type(exc).__name__}") from None
        return Delivered(self.name, f"{response['channel']}:{response['ts']}")
