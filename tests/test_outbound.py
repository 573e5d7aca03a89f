"""Outbound signed webhooks: answers become outbox rows, the job delivers them signed, retries
with backoff and gives up after max_attempts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa

from integrations.outbound import OutboundListener, OutboundSettings, OutboxJob
from nps_bot.followups.outbox import enqueue
from nps_bot.plugin import signing
from nps_bot.store.schema import outbox, surveys
from tests.conftest import Live, generic_event

URL = "https://hooks.example.com/nps"
SECRET = "outbound-secret"


@pytest.fixture
def router() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


@pytest.fixture
def live(make_live: Callable[..., Live], monkeypatch: pytest.MonkeyPatch, any_db_url: str) -> Live:
    monkeypatch.setenv("NPS_BOT_WEBHOOK_URLS", f"{URL}, https://second.example.com/hook")
    monkeypatch.setenv("NPS_BOT_WEBHOOK_SECRET", SECRET)
    return make_live(database_url=any_db_url)


def outbox_rows(live: Live) -> list[Any]:
    with live.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)))


def answered(live: Live, score: int) -> Any:
    live.post_generic(generic_event(1))
    live.clock.advance(timedelta(hours=1))
    assert live.worker().deliver_due() == 1  # console channel: no chat configured
    with live.ctx.engine.connect() as conn:
        token = conn.execute(sa.select(surveys.c.token)).scalar_one()
    return token, live.ctx.surveys.record_score(token, score, source="web")


def test_settings_read_csv_urls(live: Live) -> None:
    assert OutboundSettings().urls == [URL, "https://second.example.com/hook"]


def test_answers_become_created_then_updated_events(live: Live) -> None:
    listener = OutboundListener(live.ctx)
    token, answer = answered(live, 4)
    listener.on_answer(answer)
    listener.on_answer(live.ctx.surveys.record_comment(token, "Too slow"))
    rows = outbox_rows(live)
    assert [(r.event_type, r.target_url) for r in rows] == [
        ("response.created", URL),
        ("response.created", "https://second.example.com/hook"),
        ("response.updated", URL),
        ("response.updated", "https://second.example.com/hook"),
    ]
    payload = rows[2].payload
    assert payload["score"] == 4 and payload["group"] == "detractor" and payload["comment"] == "Too slow"
    assert payload["ticket_id"] == "T-1001" and payload["ticket_url"].endswith("/1001")
    assert (payload["connector"], payload["agent"], payload["team"]) == ("generic", "Ona", "Billing")
    assert payload["tags"] == ["billing", "vat"] and payload["customer_name"] == "Rūta Jankauskienė"
    assert payload["answered_at"]
    assert "customer1@example.com" not in json.dumps(rows[2].payload), "never an e-mail"


def test_delivery_is_signed_and_marked_delivered(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(204))
    with live.ctx.engine.begin() as conn:
        assert enqueue(conn, "response.created", {"survey_id": 7, "score": 3}, live.clock.now(), [URL]) == 1
    job = OutboxJob(live.ctx)
    assert job.run_due(live.clock.now()) == 1
    request = route.calls.last.request
    now = live.clock.now().timestamp()
    signing.verify([SECRET], request.headers[signing.HEADER], request.content, now=now, tolerance=300)
    body = json.loads(request.content)
    assert body["type"] == "response.created" and body["data"] == {"survey_id": 7, "score": 3}
    assert request.headers["X-NPS-Event"] == "response.created"
    (row,) = outbox_rows(live)
    assert request.headers["X-NPS-Delivery"] == str(row.id)
    assert (row.state, row.attempts, row.delivered_at) == ("delivered", 1, live.clock.now())
    assert job.run_due(live.clock.now()) == 0, "delivered once"


def test_server_error_then_success_with_backoff(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(side_effect=[httpx.Response(500), httpx.Response(200)])
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "loop.closed", {"survey_id": 1}, live.clock.now(), [URL])
    job = OutboxJob(live.ctx)
    assert job.run_due(live.clock.now()) == 1
    (row,) = outbox_rows(live)
    assert row.state == "pending" and "500" in row.last_error
    assert row.next_attempt_at == live.clock.now() + timedelta(seconds=30)
    assert job.run_due(live.clock.now()) == 0, "not before the backoff"
    live.clock.advance(timedelta(seconds=30))
    assert job.run_due(live.clock.now()) == 1
    (row,) = outbox_rows(live)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 2, None)
    assert route.call_count == 2


def test_gives_up_after_max_attempts(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(503))
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "alert.created", {"survey_id": 1}, live.clock.now(), [URL])
    job = OutboxJob(live.ctx)
    for _ in range(20):
        job.run_due(live.clock.now())
        live.clock.advance(timedelta(hours=7))
    (row,) = outbox_rows(live)
    assert (row.state, row.attempts) == ("failed", 8)
    assert "503" in row.last_error
    assert route.call_count == 8


def test_two_workers_never_send_the_same_row(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(200))
    with live.ctx.engine.begin() as conn:
        for i in range(5):
            enqueue(conn, "response.created", {"survey_id": i}, live.clock.now(), [URL])
    a, b = OutboxJob(live.ctx, owner="a"), OutboxJob(live.ctx, owner="b")
    assert a.run_due(live.clock.now()) + b.run_due(live.clock.now()) == 5
    assert route.call_count == 5


def test_no_secret_means_nothing_is_sent(live: Live, router: respx.Router, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NPS_BOT_WEBHOOK_SECRET")
    route = router.post(URL).mock(return_value=httpx.Response(200))
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "response.created", {"survey_id": 1}, live.clock.now(), [URL])
    assert OutboxJob(live.ctx).run_due(live.clock.now()) == 0
    assert route.call_count == 0 and outbox_rows(live)[0].state == "pending"


def test_rate_limit_waits_for_retry_after(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "600"}), httpx.Response(200)]
    )
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "response.created", {"survey_id": 1}, live.clock.now(), [URL])
    job = OutboxJob(live.ctx)
    assert job.run_due(live.clock.now()) == 1
    (row,) = outbox_rows(live)
    assert row.state == "pending" and "429" in row.last_error
    assert row.next_attempt_at == live.clock.now() + timedelta(seconds=600), "Retry-After beats the 30 s backoff"
    live.clock.advance(timedelta(seconds=599))
    assert job.run_due(live.clock.now()) == 0
    live.clock.advance(timedelta(seconds=1))
    assert job.run_due(live.clock.now()) == 1
    assert outbox_rows(live)[0].state == "delivered" and route.call_count == 2


def test_redirect_is_not_a_delivery(live: Live, router: respx.Router) -> None:
    router.post(URL).mock(return_value=httpx.Response(301, headers={"Location": "https://elsewhere.example.com/"}))
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "response.created", {"survey_id": 1}, live.clock.now(), [URL])
    assert OutboxJob(live.ctx).run_due(live.clock.now()) == 1
    (row,) = outbox_rows(live)
    assert row.state == "pending" and "301" in row.last_error


def test_a_broken_url_does_not_stop_the_batch(live: Live, router: respx.Router) -> None:
    route = router.post(URL).mock(return_value=httpx.Response(200))
    with live.ctx.engine.begin() as conn:
        enqueue(conn, "response.created", {"survey_id": 1}, live.clock.now(), ["http://[::1"])
        enqueue(conn, "response.created", {"survey_id": 2}, live.clock.now(), [URL])
    assert OutboxJob(live.ctx).run_due(live.clock.now()) == 2
    broken, good = outbox_rows(live)
    assert broken.state == "pending" and broken.lease_owner is None and broken.last_error
    assert good.state == "delivered" and route.call_count == 1
