"""Survey delivery as a Slack DM from the bot.

Customers known by e-mail only are looked up once per cache period (users.lookupByEmail is Tier 3),
and the answer, found or not, is kept with the customer. Every survey DM carries message metadata
naming the survey, so a survey whose earlier attempt may have reached Slack is looked for in the DM
first and adopted rather than posted twice. Only such a survey: the worker stamps every attempt before
calling the channel, and the stamp outlives the attempt only when the post's outcome is unknown (the
worker died; a timeout or a dropped connection; a 5xx; Slack's `internal_error` / `fatal_error`,
which may have half succeeded): `OutgoingSurvey.maybe_delivered`. A retry after an answer saying
nothing was posted (a 429, `channel_not_found`, any other error), or after a failure before the post,
goes straight to chat.postMessage, without conversations.open + conversations.history (Tier 3 both).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.api import SlackApi, error_code, retry_after, status_code
from integrations.slack.blocks.survey import survey_message
from integrations.slack.settings import SlackSettings
from nps_bot.clock import Clock
from nps_bot.models import Delivered, OutgoingSurvey
from nps_bot.plugin.ports import ChatUserIds, DeliveryInDoubt, DeliveryRetry, DeliveryUnavailable

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
NOT_FOUND = frozenset({"users_not_found", "user_not_found"})
# Error answers after which the call may have had an effect all the same (docs.slack.dev: "It's
# possible some aspect of the operation succeeded before the error was raised").
MAYBE_DONE = frozenset({"internal_error", "fatal_error"})
# The metadata event every survey DM carries (docs.slack.dev/messaging/message-metadata).
SURVEY_EVENT = "nps_survey"


def raise_for_slack(exc: SlackApiError, *, may_have_posted: bool = False) -> NoReturn:
    """Translate a Slack failure into the worker's vocabulary. `may_have_posted`: the survey's DM may be
    in Slack all the same, so the retry must look for it first (DeliveryInDoubt)."""
    code = error_code(exc)
    status = status_code(exc)
    if code in UNREACHABLE:
        raise DeliveryUnavailable(code) from None  # the worker names the channel: "slack: users_not_found"
    wait = retry_after(exc) if status == 429 else None
    reason = "rate limited" if status == 429 else f"error {code} (HTTP {status})"
    raise (DeliveryInDoubt if may_have_posted else DeliveryRetry)(reason, wait) from None


def may_have_posted(exc: SlackApiError) -> bool:
    """Whether chat.postMessage failing so leaves the DM possibly posted: a 5xx (or no response), or an
    error that may have half succeeded. Any other error answer, 429 included, means nothing was posted."""
    return not 200 <= status_code(exc) < 500 or error_code(exc) in MAYBE_DONE


def survey_metadata(survey_id: int) -> dict[str, Any]:
    return {"event_type": SURVEY_EVENT, "event_payload": {"survey_id": survey_id}}


def is_survey(message: dict[str, Any], survey_id: int) -> bool:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != SURVEY_EVENT:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and str(payload.get("survey_id")) == str(survey_id)


class SlackDmChannel:
    name = "slack"
    can_remind = True  # the reminder is a new DM with the same buttons (nps_bot.delivery.reminders)

    def __init__(self, client: WebClient, ids: ChatUserIds, clock: Clock, settings: SlackSettings) -> None:
        self.slack = SlackApi(client)
        self.ids = ids
        self.clock = clock
        self.settings = settings

    def resolve_user(self, survey: OutgoingSurvey) -> str:
        email = survey.customer_email
        if not email:
            if survey.slack_user_id:
                return survey.slack_user_id
            raise DeliveryUnavailable("customer has neither a Slack user id nor an e-mail address")
        last = self.ids.cached(email)
        if last is not None:
            ttl = self.settings.user_id_ttl if last.user_id else self.settings.user_missing_ttl
            if self.clock.now() - last.checked_at < ttl:
                if last.user_id:
                    return last.user_id
                raise DeliveryUnavailable("users_not_found")  # as Slack answered, within the cache period
        elif survey.slack_user_id:
            return survey.slack_user_id  # given by the help desk, never looked up
        return self._look_up(email)

    def _look_up(self, email: str) -> str:
        try:
            user = self.slack.user_by_email(email)
        except SlackApiError as exc:
            if error_code(exc) in NOT_FOUND:
                self.ids.remember(email, None)
            raise_for_slack(exc)
        except OSError as exc:  # nothing was posted yet: a plain retry
            raise DeliveryRetry(f"unreachable: {type(exc).__name__}") from None
        if user.get("deleted") or user.get("is_bot"):
            self.ids.remember(email, None)
            raise DeliveryUnavailable("Slack account is deactivated or a bot")
        user_id = str(user["id"])
        self.ids.remember(email, user_id)
        return user_id

    def find_posted(self, user_id: str, survey_id: int) -> str | None:
        """The "channel:ts" of this survey's DM if an earlier attempt posted it."""
        channel = self.slack.open_dm(user_id)
        for message in self.slack.history(channel):
            if is_survey(message, survey_id):
                return f"{channel}:{message['ts']}"
        return None

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        user_id = self.resolve_user(survey)
        # A reminder's earlier DM is the survey itself: never adopted as the reminder.
        if survey.maybe_delivered and not survey.reminder and (ref := self._posted_before(user_id, survey.id)):
            log.info("survey %d: its DM from an earlier attempt is in Slack; recorded, not posted again", survey.id)
            return Delivered(self.name, ref)
        text, blocks = survey_message(survey)
        try:
            ref = self.slack.post(user_id, text, blocks, unfurl_links=False, metadata=survey_metadata(survey.id))
        except SlackApiError as exc:
            raise_for_slack(exc, may_have_posted=may_have_posted(exc))
        except OSError as exc:  # connection refused, DNS, timeout after the built-in retries: posted or not
            raise DeliveryInDoubt(f"unreachable: {type(exc).__name__}") from None
        return Delivered(self.name, ref)

    def _posted_before(self, user_id: str, survey_id: int) -> str | None:
        """find_posted; when that fails, the earlier attempt stays in doubt (the next one looks again)."""
        try:
            return self.find_posted(user_id, survey_id)
        except SlackApiError as exc:
            raise_for_slack(exc, may_have_posted=True)
        except OSError as exc:
            raise DeliveryInDoubt(f"unreachable: {type(exc).__name__}") from None
