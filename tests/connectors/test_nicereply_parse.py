"""Nicereply without a server or a database: rating objects -> what is stored (`parse_rating`), CSAT scale
mapping, the shared-token check, and webhook bodies refused before anything is stored.

`NicereplyIntegration.parse` stores a valid rating itself (through the host's survey service), so accepted
ratings are tested end to end in test_nicereply_http.py; a refused one raises before the host is touched,
so those run here with no host at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.nicereply import NicereplyIntegration, NicereplySettings, csat_to_five
from integrations.nicereply.connector import NicereplyImportError
from integrations.nicereply.payloads import RatingError, parse_rating, ratings_in
from nps_bot.plugin.ports import BadPayload, Unauthorized, WebhookRequest
from tests.connectors.helpers import DELETE, NICEREPLY_KEY, NICEREPLY_SECRET, check, fixture, load, raw_of, request


def integration(
    secret: list[str] | None = None, csat_scale: int | None = 3, private_key: str | None = NICEREPLY_KEY
) -> NicereplyIntegration:
    """As helpers.NICEREPLY_ENV configures it; no host: nothing here may reach the store."""
    settings = NicereplySettings(
        secret=[NICEREPLY_SECRET] if secret is None else secret, private_key=private_key, csat_scale=csat_scale
    )
    return NicereplyIntegration(None, settings)  # type: ignore[arg-type]


def sent(body: Any, *, token: str | None = NICEREPLY_SECRET, query: dict[str, str] | None = None) -> WebhookRequest:
    return request(
        raw_of(body), {"content-type": "application/json"}, query=({"token": token} if token else {}) | (query or {})
    )


# -- scale mapping ----------------------------------------------------------------------------------


def test_csat_scales_map_onto_one_to_five() -> None:
    assert [csat_to_five(s, 2) for s in (1, 2)] == [1, 5]
    assert [csat_to_five(s, 3) for s in (1, 2, 3)] == [1, 3, 5]
    assert [csat_to_five(s, 5) for s in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [csat_to_five(s, 10) for s in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError, match=r"outside 1\.\.3"):
        csat_to_five(8, 3)
    with pytest.raises(ValueError, match="scale must be one of"):
        csat_to_five(1, 4)


# -- rating objects ---------------------------------------------------------------------------------

NPS = {
    "connector": "nicereply",
    "event_id": "rating-9001",
    "ticket_id": "48213",
    "kind": "nps",
    "closed_at": datetime(2026, 11, 19, 14, 4, 5, tzinfo=UTC),
    "agent.id": "52",
    "agent.name": "ona.petraite",
    "customer_key": "nicereply:77120",
    "customer.attributes": {"nicereply_survey": "311"},
    "reply_context": {"nicereply_rating_id": "9001"},
}

RATINGS = [
    pytest.param("rating_nps.json", None, None, NPS, (9, "Quick and friendly, thanks!"), id="nps-all-fields"),
    pytest.param(
        "rating_csat.json",
        None,
        None,
        {"kind": "csat", "ticket_id": "48214", "agent.name": "jonas.k"},
        (3, None),  # 2 of 3 smileys is 3 of 5
        id="csat-on-the-configured-scale",
    ),
    pytest.param(
        "rating_nps.json", {"survey": DELETE}, "nps", {"kind": "nps"}, (9, "Quick and friendly, thanks!"), id="metric"
    ),
    pytest.param(
        "rating_nps.json",
        {"ticket": "", "comment": "  "},
        None,
        {"ticket_id": "rating-9001"},  # a rating without a ticket stands alone
        (9, None),
        id="no-ticket-blank-comment",
    ),
]


@pytest.mark.parametrize(("name", "changes", "metric", "expected", "answer"), RATINGS)
def test_rating_becomes_an_answer_to_store(
    name: str, changes: dict[str, Any] | None, metric: str | None, expected: dict[str, Any], answer: tuple[Any, ...]
) -> None:
    rating = integration().rating(load("nicereply", name, changes), metric)
    check(rating.interaction, expected)
    assert (rating.score, rating.comment) == answer
    assert rating.answered_at == rating.interaction.closed_at


def test_a_page_of_ratings_and_a_wrapped_rating_are_read() -> None:
    page = fixture("nicereply", "ratings_page.json")
    assert [integration().rating(r, None).score for r in ratings_in(page)] == [10, 4]
    assert ratings_in({"rating": {"id": 1}}) == [{"id": 1}]
    assert ratings_in([{"id": 1}, {"id": 2}]) == [{"id": 1}, {"id": 2}]


REFUSED = [
    pytest.param({"score": 11}, None, 3, "outside 0..10", id="nps-score-out-of-range"),
    pytest.param({"created_at": None}, None, 3, "created_at", id="no-created-at"),
    pytest.param({"survey": DELETE}, None, 3, "survey.metric", id="no-metric"),
    pytest.param({"score": "nine"}, None, 3, "not a number", id="score-not-a-number"),
    pytest.param({"score": DELETE}, None, 3, "score: missing", id="no-score"),
]


@pytest.mark.parametrize(("changes", "metric", "scale", "reason"), REFUSED)
def test_unstorable_ratings_are_named(changes: dict[str, Any], metric: str | None, scale: int, reason: str) -> None:
    with pytest.raises(RatingError, match=reason):
        parse_rating(load("nicereply", "rating_nps.json", changes), metric=metric, csat_scale=scale)


# -- the webhook: refused before anything is stored ---------------------------------------------------


BAD_BODIES = [
    pytest.param(b'{"id": 1,', None, 3, "malformed JSON", id="truncated-json"),
    pytest.param("just text", None, 3, "rating object", id="a-json-string"),
    pytest.param(load("nicereply", "rating_nps.json", {"score": 11}), None, 3, "outside 0..10", id="score-11"),
    pytest.param(load("nicereply", "rating_nps.json", {"created_at": None}), None, 3, "created_at", id="no-date"),
    pytest.param(load("nicereply", "rating_nps.json", {"survey": DELETE}), None, 3, "survey.metric", id="no-metric"),
    pytest.param(
        fixture("nicereply", "rating_csat.json"), None, None, "NPS_BOT_NICEREPLY_CSAT_SCALE", id="csat-without-scale"
    ),
    pytest.param(
        fixture("nicereply", "rating_csat.json"),
        {"metric": "nps"},
        None,
        "NPS_BOT_NICEREPLY_CSAT_SCALE",
        id="csat-in-body",
    ),
]


@pytest.mark.parametrize(("body", "query", "scale", "reason"), BAD_BODIES)
def test_bad_webhook_bodies_are_400_before_storing(
    body: Any, query: dict[str, str] | None, scale: int | None, reason: str
) -> None:
    nicereply = integration(csat_scale=scale)
    req = sent(body, query=query)
    nicereply.verify(req)
    with pytest.raises(BadPayload) as exc:
        nicereply.parse(req)  # no host: storing would fail with AttributeError, not BadPayload
    assert reason in exc.value.reason
    assert exc.value.status == 400


def test_an_empty_list_is_ignored() -> None:
    assert integration().parse(sent([])).ignored == "no ratings in the body"


# -- verify ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "reason"), [("nope", "does not match"), (None, "missing token")])
def test_bad_token_is_unauthorized(token: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized) as exc:
        integration().verify(sent(fixture("nicereply", "rating_nps.json"), token=token))
    assert reason in exc.value.reason
    assert exc.value.status == 401


def test_token_in_the_header_verifies() -> None:
    req = request(fixture("nicereply", "rating_nps.json"), {"X-NPS-Token": NICEREPLY_SECRET})
    integration().verify(req)


def test_missing_secret_configuration_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="NPS_BOT_NICEREPLY_SECRET"):
        integration(secret=[]).verify(sent(fixture("nicereply", "rating_nps.json")))


# -- importer settings --------------------------------------------------------------------------------


def test_import_requires_the_private_key() -> None:
    with pytest.raises(NicereplyImportError, match="NPS_BOT_NICEREPLY_PRIVATE_KEY"):
        integration(private_key=None).run_import(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
