"""Answers given in Slack: button clicks, the "why" modal, and text typed into the survey DM."""

from __future__ import annotations

import re

from integrations.slack.services import PLATFORM
from nps_bot.models import ANSWERED_STATES, Answer
from nps_bot.plugin.ports import Host
from nps_bot.surveys import i18n
from nps_bot.surveys.recipients import chat_user_id
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, current_answer, latest_delivered
from nps_bot.surveys.wording import followup_key, scale

CHANNEL = PLATFORM
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.!]?\s*$")
_SCORE = re.compile(r"^[0-9]{1,2}$")


class NotRecipient(SurveyError):
    """Someone other than the survey's recipient tried to answer it; the message is for them."""


class BadButton(SurveyError):
    """A score button value that is not "<token>:<score>"."""


class SurveyAnswers:
    def __init__(self, ctx: Host) -> None:
        self.ctx = ctx

    def check_recipient(self, token: str, user: str, channel: str | None = None) -> None:
        """Raise NotRecipient unless `user` is the one the survey went to.

        The customer's Slack user id decides; a customer found by e-mail has none stored, and then the
        click must come from the conversation the survey was posted in (a DM: the recipient's own).
        """
        expected = chat_user_id(self.ctx.engine, token)
        if expected is not None:
            allowed = user == expected
        elif channel is not None:
            ref = self.ctx.surveys.find(token)
            allowed = ref.delivery_channel != CHANNEL or (ref.delivery_ref or "").split(":")[0] == channel
        else:
            allowed = True
        if not allowed:
            lang = self.ctx.surveys.find(token).language
            raise NotRecipient(i18n.t(lang, "survey.not_yours"))

    def current(self, token: str, user: str | None = None, channel: str | None = None) -> Answer:
        if user is not None:
            self.check_recipient(token, user, channel)
        return current_answer(self.ctx.surveys, token)

    def score(self, value: str, user: str, channel: str | None = None) -> Answer:
        """A score button's value, "<token>:<score>"; raises SurveyError (its message can be shown)."""
        token, _, raw = value.rpartition(":")
        if not token or not _SCORE.match(raw):
            raise BadButton(i18n.t(None, "survey.bad_score_button"))
        self.check_recipient(token, user, channel)
        return self.ctx.surveys.record_score(token, int(raw), source=CHANNEL, responder=user)

    def comment(self, token: str, text: str, user: str) -> Answer:
        self.check_recipient(token, user)
        return self.ctx.surveys.record_comment(token, text, responder=user)

    def notify(self, answer: Answer) -> None:
        """Tell the other listeners (alerts, outbound webhooks) about an answer taken here."""
        self.ctx.notify_answer(answer)

    def from_chat(self, dm_channel: str, user: str, text: str) -> tuple[Answer, str] | None:
        """Record what the customer typed; returns the answer and our reply, or None to stay quiet.

        A bare number on the survey's scale is the score; other text, once scored, becomes the comment.
        """
        ref = latest_delivered(self.ctx.surveys, CHANNEL, f"{dm_channel}:")
        if ref is None or not text.strip():
            return None
        lang = ref.language
        match = _NUMBER.match(text)
        try:
            if match and int(match.group(1)) in scale(ref.kind):
                answer = self.ctx.surveys.record_score(ref.token, int(match.group(1)), source=CHANNEL, responder=user)
                thanks = i18n.t(lang, "survey.thanks_score", score=answer.score)
                return answer, f"{thanks} {i18n.t(lang, followup_key(ref.kind, answer.score))}"
            if ref.state not in ANSWERED_STATES:
                return None  # no score yet: the buttons above are the way to start
            previous = self.current(ref.token).comment
            combined = f"{previous}\n{text.strip()}" if previous else text.strip()
            answer = self.ctx.surveys.record_comment(ref.token, combined[:MAX_COMMENT], responder=user)
        except SurveyError:
            return None
        return answer, i18n.t(lang, "comment.thanks")
