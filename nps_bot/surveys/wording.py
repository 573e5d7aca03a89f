"""What to ask and how to follow up, per survey kind and answer; shared by every channel."""

from __future__ import annotations

from nps_bot.models import SCALES, SurveyKind
from nps_bot.reporting.scoring import classify

QUESTION_KEYS: dict[str, str] = {"nps": "survey.question", "csat": "csat.question", "ces": "ces.question"}


def scale(kind: SurveyKind) -> range:
    low, high = SCALES[kind]
    return range(low, high + 1)


def sentiment(kind: SurveyKind, score: int) -> str:
    """detractor / passive / promoter, mapping CSAT and CES onto the same three follow-ups."""
    if kind == "nps":
        return classify(score)
    low, high = SCALES[kind]
    if score >= high - 1:
        return "promoter"
    if score <= low + (high - low) // 2:
        return "detractor"
    return "passive"


def followup_key(kind: SurveyKind, score: int) -> str:
    return f"followup.{sentiment(kind, score)}"
