"""Answers given the way customers give them: a signed help-desk webhook, the worker sending the
survey, then the hosted page (score, comment). Used by the Slack report and trust tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from nps_bot.store.schema import surveys
from tests.support.app import Live, generic_event


def survey_token(live: Live, n: int) -> str:
    with live.ctx.engine.connect() as conn:
        return str(conn.execute(sa.select(surveys.c.token).where(surveys.c.ticket_id == f"T-{1000 + n}")).scalar_one())


def send(live: Live, n: int, **overrides: Any) -> str:
    """Webhook for ticket n, then one worker run: returns the survey token."""
    assert live.post_generic(generic_event(n, **overrides)).status_code in (200, 201, 202)
    live.clock.advance(timedelta(hours=1))
    live.worker().run_once()
    return survey_token(live, n)


def answer(live: Live, n: int, score: int, comment: str | None = None, **overrides: Any) -> str:
    """Send ticket n's survey and answer it on the hosted page; returns its token."""
    token = send(live, n, **overrides)
    assert live.http.post(f"/s/{token}", data={"score": score}).status_code == 200
    if comment:
        assert live.http.post(f"/s/{token}/comment", data={"comment": comment}).status_code == 200
    return token
