"""Answers typed into the survey DM: a bare number is the score, anything else the comment."""

from __future__ import annotations

import re

from nps_bot.models import ANSWERED_STATES, Answer
from nps_bot.plugin.ports import Host
from nps_bot.surveys import i18n
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, current_answer, latest_delivered
from nps_bot.surveys.wording import followup_key, scale

_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.!]?\s*$")


class ChatAnswers:
    def __init__(self, ctx: Host) -> None:
        self.ctx = ctx

    def current(self, token: str) -> Answer:
        return current_answer(self.ctx.surveys, token)

    def take(self, dm_channel: str, user: str, text: str) -> tuple[Answer, str] | None:
        """Record what the customer typed; returns the answer and our reply, or None to stay quiet."""
        ref = latest_delivered(self.ctx.surveys, "slack", f"{dm_channel}:")
        if ref is None or not text.strip():
            return None
        lang = ref.language
        match = _NUMBER.match(text)
        try:
            if match and int(match.group(1)) in scale(ref.kind):
                answer = self.ctx.surveys.record_score(ref.token, int(match.group(1)), source="slack", responder=user)
                thanks = i18n.t(lang, "survey.thanks_score", score=answer.score)
                reply = f"{thanks} {i18n.t(lang, followup_key(ref.kind, answer.score))}"
                return answer, reply
            if ref.state not in ANSWERED_STATES:
                return None  # no score yet: the buttons above are the way to start
            previous = current_answer(self.ctx.surveys, ref.token).comment
            combined = f"{previous}\n{text.strip()}" if previous else text.strip()
            answer = self.ctx.surveys.record_comment(ref.token, combined[:MAX_COMMENT], responder=user)
        except SurveyError:
            return None
        return answer, i18n.t(lang, "comment.thanks")
