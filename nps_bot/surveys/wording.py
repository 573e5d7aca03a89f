"""What to ask and how to follow up, per survey kind and answer; shared by every channel."""

from __future__ import annotations

from nps_bot.models import SCALES, SurveyKind
from nps_bot.reporting.scoring import classify

QUESTION_KEYS: dict[str, str] = {"nps": "survey.question", "csat": "csat.question", "ces": "ces.question"}
# What the lowest and the highest score mean, shown under the buttons (Slack) and the scale (web page).
SCALE_KEYS: dict[str, tuple[str, str]] = {
    "nps": ("survey.scale_low", "survey.scale_high"),
    "csat": ("csat.scale_low", "csat.scale_high"),
    "ces": ("ces.scale_low", "ces.scale_high"),
}
# A chat notification's text: the question and the scale in words, for clients that show no buttons.
FALLBACK_KEYS: dict[str, str] = {
    "nps": "survey.fallback_text",
    "csat": "csat.fallback_text",
    "ces": "ces.fallback_text",
}


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
