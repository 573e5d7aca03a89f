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

import logging
from collections.abc import Iterator
from datetime import datetime

import httpx

from integrations.nicereply.payloads import (
    CSAT_SCALES,
    METRICS,
    SOURCE,
    Rating,
    RatingError,
    csat_to_five,
    parse_rating,
    ratings_in,
)
from integrations.nicereply.settings import NicereplySettings
from nps_bot.plugin.auth import SharedToken
from nps_bot.plugin.http import LazyClient, send
from nps_bot.plugin.ports import (
    MAX_COMMENT,
    BadPayload,
    DeliveryRetry,
    DeliveryUnavailable,
    Host,
    Parsed,
    SurveyError,
    WebhookRequest,
    json_value,
)

__all__ = [
    "CSAT_SCALES",
    "METRICS",
    "SOURCE",
    "NicereplyImportError",
    "NicereplyIntegration",
    "NicereplySettings",
    "Rating",
    "RatingError",
    "csat_to_five",
    "parse_rating",
    "ratings_in",
]

log = logging.getLogger(__name__)

PER_PAGE = 100  # the API's maximum
MAX_PAGES = 10_000  # a runaway guard, far above any real account


class NicereplyImportError(RuntimeError):
    pass


class NicereplyIntegration:
    """Webhook connector (`verify`/`parse`) and importer (`run_import`) in one."""

    name = "nicereply"
    client = LazyClient()

    def __init__(self, ctx: Host, settings: NicereplySettings, client: httpx.Client | None = None) -> None:
        self.ctx = ctx
        self.settings = settings
        self.client = client
        self.token = SharedToken(self.name, "NPS_BOT_NICEREPLY_SECRET")

    # -- storing -------------------------------------------------------------------------------

    def store(self, rating: Rating, *, notify: bool) -> bool:
        """Store (or update) one rating; tell answer listeners when it is new or changed. Returns is-new."""
        before = self.ctx.surveys.stored_answer(rating.interaction) if notify else None
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

    def rating(self, raw: object, metric: str | None) -> Rating:
        s = self.settings
        return parse_rating(raw, metric=metric, csat_scale=s.csat_scale, attributes=s.attributes)

    # -- webhook -------------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        """Nicereply itself sends no webhooks; relays carry our shared token."""
        self.token.check(request, self.settings.secret)

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_value(request.body)
        metric = request.query.get("metric")
        try:
            ratings = [self.rating(r, metric) for r in ratings_in(data)]
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
                            rating = self.rating(raw, metric)
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
