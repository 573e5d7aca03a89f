"""Nicereply: ratings collected in Nicereply become nps-bot answers (not a ticket source).

Two ways in, both storing through `SurveyService.record_external_answer` (idempotent per ticket and kind):

* `POST /webhooks/nicereply?token=...` with one Nicereply API v1 rating object (or a page of them). Nicereply
  documents no outgoing webhook, so this is for relays (Zapier/Make/Pipedream "new rating" triggers or your
  own poller) that forward the rating as the API returns it. The core only schedules surveys from
  `Parsed.interactions`, so `parse` stores the rating itself and answers `Parsed(ignored="imported rating <id>")`.
* `nps-bot import nicereply --since YYYY-MM-DD`: pages through `GET /v1/{csat,ces,nps}/ratings`
  (HTTP Basic, blank user, private key as password; `_results` + `_pagination`, `page`/`per_page` ≤ 100).

Scales: NPS 0-10 and CES 1-7 are stored as they are; CSAT is converted to 1-5 from the survey's scale
(NPS_BOT_NICEREPLY_CSAT_SCALE: 2 thumbs, 3 smileys, 5 or 10 stars) — see `csat_to_five`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from math import floor
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config
from nps_bot.models import Agent, Customer, Interaction, SurveyKind
from nps_bot.plugin.http import LazyClient, send
from nps_bot.plugin.ports import (
    BadPayload,
    DeliveryRetry,
    DeliveryUnavailable,
    Host,
    Parsed,
    Unauthorized,
    WebhookRequest,
)
from nps_bot.store.schema import responses, surveys
from nps_bot.surveys.service import MAX_COMMENT, SurveyError

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-nps-bot-token"
TOKEN_PARAM = "token"
SOURCE = "nicereply"
METRICS: dict[str, SurveyKind] = {"csat": "csat", "ces": "ces", "nps": "nps"}
CSAT_SCALES = (2, 3, 5, 10)
PER_PAGE = 100  # the API's maximum
MAX_PAGES = 10_000  # a runaway guard, far above any real account


class NicereplySettings(BaseSettings):
    model_config = base_config("NPS_BOT_NICEREPLY_")

    private_key: str | None = None
    # Comma-separated to allow rotation (webhook relays).
    secret: CsvList = Field(default_factory=list)
    api_url: str = "https://api.nicereply.com/v1"
    # Number of options on your CSAT surveys: 2 (thumbs), 3 (smileys), 5 or 10 (stars). Unset = CSAT
    # ratings are refused rather than guessed.
    csat_scale: int | None = None
    # Which rating collections the importer reads.
    metrics: CsvList = Field(default_factory=lambda: ["csat", "ces", "nps"])

    @field_validator("csat_scale", mode="before")
    @classmethod
    def _scale(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and int(str(value)) not in CSAT_SCALES:
            raise ValueError(f"must be one of {', '.join(map(str, CSAT_SCALES))}")
        return value


class RatingError(ValueError):
    """A rating that cannot be stored; the message names the field and never contains personal data."""


class NicereplyImportError(RuntimeError):
    pass


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
    text = _text(value)
    if text is None:
        raise RatingError(f"{field}: missing")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RatingError(f"{field}: not an ISO 8601 date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _person(value: object) -> dict[str, Any]:
    """`customer` / `user` come as an id or as an object ({id, username, email, full_name...})."""
    if isinstance(value, dict):
        return value
    if _text(value) is not None:
        return {"id": value}
    return {}


def parse_rating(raw: object, *, metric: str | None = None, csat_scale: int | None = None) -> Rating:
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
    attributes = {"nicereply_survey": str(survey["id"])} if survey.get("id") is not None else {}
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
                attributes=attributes,
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


class NicereplyIntegration:
    """Webhook connector (`verify`/`parse`) and importer (`run_import`) in one."""

    name = "nicereply"
    client = LazyClient()

    def __init__(self, ctx: Host, settings: NicereplySettings, client: httpx.Client | None = None) -> None:
        self.ctx = ctx
        self.settings = settings
        self.client = client

    # -- storing -------------------------------------------------------------------------------

    def _previous(self, interaction: Interaction) -> tuple[int, str | None] | None:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                sa.select(responses.c.score, responses.c.comment)
                .select_from(responses.join(surveys, surveys.c.id == responses.c.survey_id))
                .where(
                    surveys.c.connector == interaction.connector,
                    surveys.c.ticket_id == interaction.ticket_id,
                    surveys.c.kind == interaction.kind,
                )
            ).first()
        return (row.score, row.comment) if row else None

    def store(self, rating: Rating, *, notify: bool) -> bool:
        """Store (or update) one rating; tell answer listeners when it is new or changed. Returns is-new."""
        before = self._previous(rating.interaction) if notify else None
        answer, is_new = self.ctx.surveys.record_external_answer(
            rating.interaction,
            rating.score,
            comment=(rating.comment or "")[:MAX_COMMENT] or None,
            answered_at=rating.answered_at,
            source=SOURCE,
        )
        if notify and (before is None or before != (answer.score, answer.comment)):
            self.ctx.notify_answer(answer)
        return is_new

    # -- webhook -------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        if not self.settings.secret:
            raise Unauthorized("NPS_BOT_NICEREPLY_SECRET is not set on the server; refusing unauthenticated webhooks")
        given = request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_PARAM)
        if not given:
            raise Unauthorized(f"missing token: add ?{TOKEN_PARAM}=<secret> to the URL or an X-NPS-Bot-Token header")
        if not any(hmac.compare_digest(given.encode(), s.encode()) for s in self.settings.secret):
            raise Unauthorized("token does not match NPS_BOT_NICEREPLY_SECRET")

    def parse(self, request: WebhookRequest) -> Parsed:
        try:
            data = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadPayload(f"malformed JSON: {exc}") from None
        metric = request.query.get("metric")
        try:
            ratings = [parse_rating(r, metric=metric, csat_scale=self.settings.csat_scale) for r in ratings_in(data)]
        except RatingError as exc:
            raise BadPayload(str(exc)) from None
        if not ratings:
            return Parsed(ignored="no ratings in the body")
        for rating in sorted(ratings, key=lambda r: r.answered_at):
            try:
                self.store(rating, notify=True)
            except SurveyError as exc:
                raise BadPayload(f"rating {rating.id}: {exc}") from None
        ids = ", ".join(r.id for r in ratings[:20])
        noun = "rating" if len(ratings) == 1 else "ratings"
        log.info("nicereply webhook: stored %s %s", noun, ids)
        # The core schedules surveys only from Parsed.interactions; an imported answer needs none.
        return Parsed(ignored=f"imported {noun} {ids}")

    # -- importer ------------------------------------------------------------------------------

    def pages(self, metric: str) -> Iterator[list[object]]:
        """Every page of `GET {api_url}/{metric}/ratings`, following `_pagination` to the last page."""
        key = self.settings.private_key
        base = self.settings.api_url.rstrip("/")
        page = 1
        while page <= MAX_PAGES:
            response = send(
                self.client,
                "GET",
                f"{base}/{metric}/ratings",
                what=f"nicereply {metric} ratings page {page}",
                params={"page": page, "per_page": PER_PAGE},
                auth=("", key or ""),
                headers={"Accept": "application/json"},
            )
            try:
                body = response.json()
            except ValueError:
                raise NicereplyImportError(f"nicereply {metric} ratings page {page}: not JSON") from None
            results = body.get("_results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise NicereplyImportError(f"nicereply {metric} ratings page {page}: no _results list")
            yield results
            pagination = body.get("_pagination") or {}
            total_pages = pagination.get("total_pages")
            has_next = bool((pagination.get("links") or {}).get("next"))
            if not results or (total_pages is not None and page >= int(total_pages)) or not (has_next or total_pages):
                return
            page += 1

    def run_import(self, since: datetime, until: datetime | None = None) -> int:
        if not self.settings.private_key:
            raise NicereplyImportError("NPS_BOT_NICEREPLY_PRIVATE_KEY is not set")
        until = until or self.ctx.clock.now()
        wanted: list[Rating] = []
        skipped: dict[str, int] = {}
        for metric in self.settings.metrics:
            metric = metric.strip().lower()
            if metric not in METRICS:
                raise NicereplyImportError(f"NPS_BOT_NICEREPLY_METRICS: unknown metric {metric!r} (csat, ces, nps)")
            try:
                for results in self.pages(metric):
                    for raw in results:
                        try:
                            rating = parse_rating(raw, metric=metric, csat_scale=self.settings.csat_scale)
                        except RatingError as exc:
                            reason = str(exc).split(": ", 1)[-1]
                            skipped[reason] = skipped.get(reason, 0) + 1
                            continue
                        if since <= rating.answered_at < until:
                            wanted.append(rating)
            except (DeliveryRetry, DeliveryUnavailable) as exc:
                raise NicereplyImportError(
                    f"{exc}; nothing was stored from this run — run it again (re-import is idempotent)"
                ) from None
        stored = 0
        # Oldest first, so the newest rating of a ticket is the one that stays.
        for rating in sorted(wanted, key=lambda r: r.answered_at):
            try:
                self.store(rating, notify=False)
            except SurveyError as exc:
                skipped[str(exc)] = skipped.get(str(exc), 0) + 1
                continue
            stored += 1
        for reason, count in skipped.items():
            log.warning("nicereply import: skipped %d rating(s): %s", count, reason)
        log.info("nicereply import: %d answers stored (new or updated)", stored)
        return stored
