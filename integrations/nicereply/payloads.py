"""Nicereply API v1 rating objects (`GET /v1/{csat,ces,nps}/ratings` → `_results`), as the importer
reads them and relays forward them, mapped to what `SurveyService.record_external_answer` takes.

Scales: NPS 0-10 and CES 1-7 are stored as they are; CSAT is converted to 1-5 from the survey's scale
(NPS_BOT_NICEREPLY_CSAT_SCALE: 2 thumbs, 3 smileys, 5 or 10 stars) — see `csat_to_five`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from math import floor
from typing import Any

from pydantic import ValidationError

from nps_bot.models import Agent, Customer, Interaction, SurveyKind
from nps_bot.plugin.payloads import parse_time, pick_attributes
from nps_bot.plugin.ports import BadPayload

SOURCE = "nicereply"
METRICS: dict[str, SurveyKind] = {"csat": "csat", "ces": "ces", "nps": "nps"}
CSAT_SCALES = (2, 3, 5, 10)


class RatingError(ValueError):
    """A rating that cannot be stored; the message names the field and never contains personal data."""


@dataclass(frozen=True, slots=True)
class Rating:
    """One Nicereply rating, mapped to what record_external_answer takes."""

    id: str
    interaction: Interaction
    score: int
    comment: str | None
    answered_at: datetime


def csat_to_five(score: int, scale: int) -> int:
    """Map a CSAT answer on a 1..`scale` survey linearly onto 1..5, halves rounded up.

    2 thumbs: 1→1, 2→5. 3 smileys: 1→1, 2→3, 3→5. 5 stars: unchanged.
    10 stars: 1,2→1; 3,4→2; 5,6→3; 7,8→4; 9,10→5.
    """
    if scale not in CSAT_SCALES:
        raise RatingError(f"CSAT scale must be one of {CSAT_SCALES}")
    if not 1 <= score <= scale:
        raise RatingError(
            f"CSAT score {score} is outside 1..{scale} (NPS_BOT_NICEREPLY_CSAT_SCALE={scale}); "
            "set it to the number of options on your survey"
        )
    return 1 + floor(Fraction(score - 1) * 4 / (scale - 1) + Fraction(1, 2))


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _int(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise RatingError(f"{field}: not a number")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise RatingError(f"{field}: not a number") from None
    if not number.is_integer():
        raise RatingError(f"{field}: not a whole number")
    return int(number)


def _time(value: object, field: str) -> datetime:
    if _text(value) is None:
        raise RatingError(f"{field}: missing")
    parsed = parse_time(value)
    if parsed is None:
        raise RatingError(f"{field}: not an ISO 8601 date")
    return parsed


def _person(value: object) -> dict[str, Any]:
    """`customer` / `user` come as an id or as an object ({id, username, email, full_name...})."""
    if isinstance(value, dict):
        return value
    if _text(value) is not None:
        return {"id": value}
    return {}


def parse_rating(
    raw: object, *, metric: str | None = None, csat_scale: int | None = None, attributes: Collection[str] = ("*",)
) -> Rating:
    """Map one API v1 rating object; `metric` is the collection it came from when the object lacks it."""
    if not isinstance(raw, dict):
        raise RatingError("rating must be a JSON object")
    rating_id = _text(raw.get("id"))
    if rating_id is None:
        raise RatingError("id: missing")
    survey = raw.get("survey") if isinstance(raw.get("survey"), dict) else {}
    metric_name = (_text(survey.get("metric")) or _text(raw.get("metric")) or metric or "").lower()
    kind = METRICS.get(metric_name)
    if kind is None:
        raise RatingError(f"rating {rating_id}: survey.metric must be CSAT, CES or NPS")
    if raw.get("score") is None:
        raise RatingError(f"rating {rating_id}: score: missing")
    score = _int(raw.get("score"), f"rating {rating_id}: score")
    if kind == "csat":
        scale_value = survey.get("scale") or raw.get("scale") or csat_scale
        if scale_value is None:
            raise RatingError(
                f"rating {rating_id}: CSAT ratings need NPS_BOT_NICEREPLY_CSAT_SCALE (2, 3, 5 or 10) on the server"
            )
        score = csat_to_five(score, _int(scale_value, "scale"))
    elif kind == "nps" and not 0 <= score <= 10:
        raise RatingError(f"rating {rating_id}: NPS score {score} is outside 0..10")
    elif kind == "ces" and not 1 <= score <= 7:
        raise RatingError(f"rating {rating_id}: CES score {score} is outside 1..7")
    answered_at = _time(raw.get("created_at"), f"rating {rating_id}: created_at")
    user = _person(raw.get("user"))
    agent = None
    if user:
        agent = Agent(
            id=_text(user.get("id")),
            name=_text(user.get("full_name")) or _text(user.get("name")) or _text(user.get("username")),
            email=_text(user.get("email")),
        )
    person = _person(raw.get("customer"))
    team = raw.get("team")
    team_name = _text(team.get("name")) if isinstance(team, dict) else _text(team)
    ticket = _text(raw.get("ticket"))
    kept = pick_attributes({"nicereply_survey": survey.get("id")}, attributes)
    try:
        interaction = Interaction(
            connector=SOURCE,
            event_id=f"rating-{rating_id}",
            # One answer per ticket and kind, like a survey of ours; a rating without a ticket stands alone.
            ticket_id=ticket or f"rating-{rating_id}",
            team=team_name,
            closed_at=answered_at,
            customer=Customer(
                external_id=_text(person.get("id")),
                email=_text(person.get("email")),
                name=_text(person.get("full_name")) or _text(person.get("name")),
                attributes=kept,
            ),
            agent=agent,
            kind=kind,
            reply_context={"nicereply_rating_id": rating_id},
        )
    except ValidationError as exc:
        item = exc.errors()[0]
        raise RatingError(f"rating {rating_id}: {'.'.join(str(p) for p in item['loc'])}: {item['msg']}") from None
    comment = _text(raw.get("comment"))
    return Rating(rating_id, interaction, score, comment, answered_at)


def ratings_in(data: object) -> list[object]:
    """The webhook body: one rating, `{"rating": {...}}`, a list, or an API page (`_results`)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("_results"), list):
            return data["_results"]
        if isinstance(data.get("rating"), dict):
            return [data["rating"]]
        return [data]
    raise BadPayload("body must be a rating object or a list of ratings")
