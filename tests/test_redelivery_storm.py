"""A help desk retrying through a proxy: 20 concurrent deliveries of the same signed event make exactly
one survey, and every answer is truthful (2xx once stored, or 503 with Retry-After), never a 500;
the worker that schedules the stored copies makes one survey and calls the rest duplicates."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from nps_bot.store.schema import surveys, webhook_events, webhook_intake
from nps_bot.surveys.intake import WebhookIntake
from tests.support.app import Live, generic_event

COPIES = 20


async def _storm(url: str, body: bytes, headers: dict[str, str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=COPIES)  # 20 connections at once, as 20 proxy retries would
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        posts = [client.post("/webhooks/generic", content=body, headers=headers) for _ in range(COPIES)]
        return await asyncio.gather(*posts)


def test_twenty_concurrent_redeliveries_make_one_survey(make_live: Callable[..., Live], any_db_url: str) -> None:
    live = make_live(database_url=any_db_url)
    body, headers = live.signed_generic(generic_event(7))  # the same bytes for every copy

    answers = asyncio.run(_storm(live.url, body, headers))

    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {202, 503}, statuses
    assert all("retry-after" in r.headers for r in answers if r.status_code == 503)
    assert all(r.json() == {"status": "queued", "events": ["evt_7"]} for r in answers if r.status_code == 202)
    # The help desk redelivers what was refused with 503 (a plain client: nothing drained yet).
    for r in answers:
        if r.status_code == 503:
            retry = httpx.post(f"{live.url}/webhooks/generic", content=body, headers=headers, timeout=30)
            assert retry.status_code == 202, retry.text
    # A worker schedules every stored copy: one survey, every other copy a duplicate of it.
    outcomes = Counter(s.outcome.status for s in WebhookIntake(live.ctx.surveys).drain_for())
    assert outcomes == {"scheduled": 1, "duplicate": COPIES - 1}, outcomes
    with live.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(surveys)).scalar_one() == 1
        events = conn.execute(sa.select(webhook_events.c.event_id)).scalars().all()
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_intake)).scalar_one() == 0
    assert events == ["evt_7"]
