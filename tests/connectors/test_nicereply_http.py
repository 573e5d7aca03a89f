"""Nicereply end to end (the integration writes answers itself, so these need the database):
ratings imported from API v1 (paged, idempotent, rate-limit aware) and taken from a relay
webhook, stored as answers that reports count.

Scale mapping, rating objects, the token check and bodies refused before storing: test_nicereply_parse.py.
Tests on the standard configuration share one app per module (`shared_live`, tests/connectors/conftest.py)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from integrations.nicereply import NicereplyIntegration
from integrations.nicereply.connector import NicereplyImportError
from nps_bot import cli
from nps_bot.models import Answer
from nps_bot.reporting.periods import Period
from nps_bot.reporting.queries import score_report
from nps_bot.store.schema import responses, survey_attributes, surveys, webhook_events
from tests.conftest import Live
from tests.connectors.helpers import FIXTURES as _FIXTURES
from tests.connectors.helpers import NICEREPLY_ENV as ENV
from tests.connectors.helpers import NICEREPLY_KEY as KEY
from tests.connectors.helpers import post_nicereply as post
from tests.db_helpers import rows

FIXTURES = _FIXTURES / "nicereply"
API = "https://api.nicereply.com/v1"
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "November")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Listener:
    def __init__(self) -> None:
        self.answers: list[Answer] = []

    def on_answer(self, answer: Answer) -> None:
        self.answers.append(answer)


@pytest.fixture
def live(shared_live: Callable[..., Live]) -> Live:
    return shared_live(env=ENV)


@pytest.fixture
def listener(live: Live) -> Listener:
    spy = Listener()
    live.ctx.integrations["test-listener"] = spy
    return spy


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


def importer(live: Live) -> NicereplyIntegration:
    plugin = live.ctx.integrations["nicereply"]
    assert isinstance(plugin, NicereplyIntegration)
    return plugin


# -- importer ---------------------------------------------------------------------------------------


def nps_rating(n: int, *, score: int = 9, day: int = 10, ticket: str | None = None) -> dict[str, Any]:
    rating = copy.deepcopy(fixture("rating_nps.json"))
    rating.update(
        id=10_000 + n,
        score=score,
        ticket=ticket if ticket is not None else str(50_000 + n),
        customer=80_000 + n,
        created_at=f"2026-11-{day:02d}T08:{n % 60:02d}:00+00:00",
        comment=f"comment {n}" if n % 2 else "",
    )
    return rating


def page(results: list[dict[str, Any]], number: int, total: int, pages: int, metric: str = "nps") -> dict[str, Any]:
    links = {}
    if number < pages:
        links["next"] = f"/v1/{metric}/ratings?page={number + 1}"
    if number > 1:
        links["previous"] = f"/v1/{metric}/ratings?page={number - 1}"
    return {
        "_results": results,
        "_pagination": {
            "total": total,
            "count": len(results),
            "per_page": 100,
            "current_page": number,
            "total_pages": pages,
            "links": links,
        },
    }


EMPTY = page([], 1, 0, 0)


def three_pages(score: int = 9) -> list[dict[str, Any]]:
    ratings = [nps_rating(n, score=score) for n in range(203)]
    ratings[0]["created_at"] = "2025-12-31T23:59:59+00:00"  # before --since
    return [page(ratings[0:100], 1, 203, 3), page(ratings[100:200], 2, 203, 3), page(ratings[200:], 3, 203, 3)]


def mock_api(router: respx.MockRouter, nps_pages: list[dict[str, Any]]) -> respx.Route:
    router.get(f"{API}/csat/ratings").respond(200, json=EMPTY)
    router.get(f"{API}/ces/ratings").respond(200, json=EMPTY)
    route = router.get(f"{API}/nps/ratings")
    route.side_effect = [httpx.Response(200, json=p) for p in nps_pages]
    return route


def test_import_pages_through_every_page(live: Live, router: respx.MockRouter, listener: Listener) -> None:
    route = mock_api(router, three_pages())
    count = importer(live).run_import(SINCE, UNTIL)
    assert count == 202, "203 ratings, one before --since"
    assert route.call_count == 3
    expected_auth = "Basic " + base64.b64encode(f":{KEY}".encode()).decode()
    for number, call in enumerate(route.calls, start=1):
        request = call.request
        assert request.headers["authorization"] == expected_auth
        assert request.headers["accept"] == "application/json"
        assert dict(request.url.params) == {"page": str(number), "per_page": "100"}
    answers = rows(live, responses)
    assert len(answers) == 202
    assert {a.source for a in answers} == {"nicereply"}
    assert listener.answers == [], "a backfill does not fire answer alerts"

    first = next(s for s in rows(live, surveys) if s.ticket_id == "50001")
    assert (first.connector, first.kind, first.state) == ("nicereply", "nps", "commented")
    assert (first.agent_id, first.agent_name) == ("52", "ona.petraite")
    assert first.customer_key == "nicereply:80001"
    assert first.sent_at == datetime(2026, 11, 10, 8, 1, tzinfo=UTC)
    attributes = {(a.name, a.value) for a in rows(live, survey_attributes) if a.survey_id == first.id}
    assert attributes == {("nicereply_survey", "311")}
    report = score_report(live.ctx.engine, NOVEMBER, kind="nps")
    assert report.overall.counts.promoters == 202


def test_reimport_updates_and_never_duplicates(live: Live, router: respx.MockRouter) -> None:
    mock_api(router, three_pages(score=9))
    assert importer(live).run_import(SINCE, UNTIL) == 202
    router.routes.clear()
    router.route(host="127.0.0.1").pass_through()
    mock_api(router, three_pages(score=3))
    assert importer(live).run_import(SINCE, UNTIL) == 202, "every rating is stored again (updated)"
    assert len(rows(live, surveys)) == 202
    answers = rows(live, responses)
    assert len(answers) == 202
    assert {a.score for a in answers} == {3}, "the newer import wins"


def test_rate_limit_is_waited_out(live: Live, router: respx.MockRouter) -> None:
    ratings = [page([nps_rating(1)], 1, 1, 1)]
    router.get(f"{API}/csat/ratings").respond(200, json=EMPTY)
    router.get(f"{API}/ces/ratings").respond(200, json=EMPTY)
    route = router.get(f"{API}/nps/ratings")
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json=ratings[0])]
    assert importer(live).run_import(SINCE, UNTIL) == 1
    assert route.call_count == 2


def test_persistent_rate_limit_stops_without_storing(live: Live, router: respx.MockRouter) -> None:
    router.get(f"{API}/csat/ratings").respond(200, json=page([], 1, 0, 0, "csat"))
    router.get(f"{API}/ces/ratings").respond(200, json=page([], 1, 0, 0, "ces"))
    router.get(f"{API}/nps/ratings").respond(429, headers={"Retry-After": "0"})
    with pytest.raises(NicereplyImportError, match=r"HTTP 429.*run it again"):
        importer(live).run_import(SINCE, UNTIL)
    assert rows(live, responses) == []


def test_csat_and_ces_are_mapped_and_unknown_scales_skipped(
    make_live: Callable[..., Live], router: respx.MockRouter, tmp_path: Path
) -> None:
    csat = fixture("rating_csat.json")
    ces = copy.deepcopy(csat) | {"id": 9003, "score": 6, "ticket": "48215", "survey": {"id": 313, "metric": "CES"}}
    live = make_live(env=ENV | {"NPS_BOT_NICEREPLY_CSAT_SCALE": ""})
    router.get(f"{API}/csat/ratings").respond(200, json=page([csat], 1, 1, 1, "csat"))
    router.get(f"{API}/ces/ratings").respond(200, json=page([ces], 1, 1, 1, "ces"))
    router.get(f"{API}/nps/ratings").respond(200, json=EMPTY)
    assert importer(live).run_import(SINCE, UNTIL) == 1, "CSAT without a configured scale is skipped"
    (answer,) = rows(live, responses)
    assert (answer.kind, answer.score) == ("ces", 6)

    live_with_scale = make_live(env=ENV, database_url=f"sqlite:///{tmp_path / 'scaled.db'}")
    assert importer(live_with_scale).run_import(SINCE, UNTIL) == 2
    scores = {(a.kind, a.score) for a in rows(live_with_scale, responses)}
    assert scores == {("csat", 3), ("ces", 6)}, "2 of 3 smileys is 3 of 5"


def test_cli_import_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NPS_BOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    mock_api(router, [page([nps_rating(1), nps_rating(2, score=2)], 1, 2, 1)])
    assert cli.main(["import", "nicereply", "--since", "2026-01-01", "--until", "2026-12-01"]) == 0
    assert "imported 2 answers from nicereply" in capsys.readouterr().out


# -- webhook ----------------------------------------------------------------------------------------


def test_webhook_stores_the_rating_and_reports_count_it(live: Live, listener: Listener) -> None:
    response = post(live, fixture("rating_nps.json"))
    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "imported rating 9001"}
    (row,) = rows(live, surveys)
    assert (row.connector, row.ticket_id, row.kind, row.state) == ("nicereply", "48213", "nps", "commented")
    assert (row.agent_id, row.agent_name, row.customer_key) == ("52", "ona.petraite", "nicereply:77120")
    (answer,) = rows(live, responses)
    assert (answer.score, answer.comment, answer.source) == (9, "Quick and friendly, thanks!", "nicereply")
    assert answer.created_at == datetime(2026, 11, 19, 14, 4, 5, tzinfo=UTC)
    assert [(a.score, a.comment) for a in listener.answers] == [(9, "Quick and friendly, thanks!")]

    report = score_report(live.ctx.engine, NOVEMBER, kind="nps", min_n=1)
    assert (report.overall.counts.promoters, report.overall.counts.detractors) == (1, 0)
    by_agent = score_report(live.ctx.engine, NOVEMBER, "agent", kind="nps", min_n=1)
    assert [s.key for s in by_agent.segments] == ["ona.petraite"]
    assert rows(live, webhook_events) == [], "no survey is scheduled from a rating"


def test_webhook_redelivery_updates_once_and_notifies_on_change(live: Live, listener: Listener) -> None:
    rating = fixture("rating_nps.json")
    post(live, rating)
    again = post(live, rating)
    assert again.status_code == 202
    assert len(rows(live, responses)) == 1
    assert len(listener.answers) == 1, "an identical redelivery is not a new answer"
    changed = post(live, rating | {"score": 6, "comment": "Actually, the fix broke again."})
    assert changed.status_code == 202
    (answer,) = rows(live, responses)
    assert (answer.score, answer.comment) == (6, "Actually, the fix broke again.")
    assert len(rows(live, surveys)) == 1
    assert [a.score for a in listener.answers] == [9, 6]
    assert listener.answers[-1].previous_score == 9


def test_webhook_takes_a_page_of_ratings_and_csat(live: Live) -> None:
    response = post(live, fixture("ratings_page.json"))
    assert response.json()["reason"] == "imported ratings 8801, 8802"
    csat = post(live, {"rating": fixture("rating_csat.json")})
    assert csat.json()["reason"] == "imported rating 9002"
    scores = {(a.kind, a.score) for a in rows(live, responses)}
    assert scores == {("nps", 10), ("nps", 4), ("csat", 3)}


def test_webhook_metric_from_the_query(live: Live) -> None:
    rating = fixture("rating_nps.json")
    del rating["survey"]  # without ?metric= it is refused: test_nicereply_parse.py
    assert post(live, rating, query="metric=nps").status_code == 202
    (answer,) = rows(live, responses)
    assert (answer.kind, answer.score) == ("nps", 9)


@pytest.mark.parametrize(("token", "reason"), [("nope", "does not match"), (None, "missing token")])
def test_webhook_bad_token_is_401_and_nothing_stored(live: Live, token: str | None, reason: str) -> None:
    response = post(live, fixture("rating_nps.json"), token=token)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert rows(live, responses) == []


def test_webhook_malformed_is_400_and_nothing_stored(live: Live) -> None:
    """Which bodies are refused and why: test_nicereply_parse.py; here, that the refusal stores nothing."""
    assert post(live, b'{"id": 1,').status_code == 400
    out_of_range = post(live, fixture("rating_nps.json") | {"score": 11})
    assert out_of_range.status_code == 400
    assert "outside 0..10" in out_of_range.json()["error"]
    assert rows(live, responses) == []
    assert rows(live, surveys) == []
