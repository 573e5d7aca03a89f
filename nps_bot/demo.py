"""`nps-bot demo`: the whole story over real HTTP in a few seconds, on a temporary database or one you keep.

A pretend help desk closes tickets through the signed generic webhook, the worker "sends" the
surveys through the console channel, customers answer on the hosted survey page, and the
`/nps score 30d by team` summary is printed.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.delivery.worker import Worker
from nps_bot.plugin import signing
from nps_bot.reporting.periods import parse_period
from nps_bot.reporting.queries import score_report
from nps_bot.reporting.scoring import classify
from nps_bot.reporting.text import render
from nps_bot.server import BackgroundServer
from nps_bot.store.schema import surveys
from nps_bot.surveys.i18n import SUPPORTED
from nps_bot.web import create_app

TEAMS = {"Billing": (8.6, 1.6), "Technical": (7.4, 2.4), "Onboarding": (9.0, 1.0), "Sales": (6.5, 2.8)}
AGENTS = ["Ona", "Jonas", "Liga", "Mart", "Olena", "Bence"]
LANGS = list(SUPPORTED)  # every language with a catalog
COMMENTS = {
    "promoter": ["Quick and friendly, thank you!", "Solved on the first reply.", "Great explanation."],
    "passive": ["Fine, but it took two days.", "OK. Docs could be clearer."],
    "detractor": ["I had to repeat myself three times.", "Still not fixed.", "Nobody answered for a week."],
}
SECRET = "demo-secret"


def _ticket(i: int, rnd: random.Random, run: str = "") -> tuple[dict[str, object], str]:
    team = rnd.choice(list(TEAMS))
    body = {
        "event": "ticket.closed",
        "id": f"evt_demo_{run}_{i}",
        "ticket": {
            "id": f"T-{run}-{1000 + i}",
            "subject": f"Demo request #{i}",
            "url": f"https://helpdesk.example/tickets/{run}-{1000 + i}",
            "channel": rnd.choice(["chat", "email", "phone"]),
            "team": team,
            "tags": [team.lower()],
        },
        "customer": {
            "email": f"customer{i}.{run}@example.com",
            "name": f"Customer {i}",
            "language": rnd.choice(LANGS),
            "attributes": {"plan": rnd.choice(["free", "pro", "enterprise"])},
        },
        "agent": {"id": str(rnd.randrange(6)), "name": rnd.choice(AGENTS)},
    }
    return body, team


def run_demo(tickets: int = 50, seed: int = 7, database_url: str | None = None) -> str:
    """Play the story and return it as text. Without `database_url` it runs on a temporary SQLite
    database that is gone afterwards; with one, the tickets and answers stay there."""
    if database_url:
        return _play(tickets, seed, database_url)
    with tempfile.TemporaryDirectory(prefix="nps-demo-") as tmp:
        return _play(tickets, seed, f"sqlite:///{Path(tmp) / 'demo.db'}")


def _play(tickets: int, seed: int, database_url: str) -> str:
    rnd = random.Random(seed)
    # Ids unique per run, so a kept database can take the demo again (the customers too: throttling).
    run = f"{int(time.time() * 1000):x}"
    settings = Settings(
        database_url=database_url,
        survey_delay=timedelta(0),
        embedded_worker=False,
        delivery=["console"],
        company_name="Demo Co",
    )
    import os

    os.environ.setdefault("NPS_BOT_GENERIC_SECRET", SECRET)
    secret = os.environ["NPS_BOT_GENERIC_SECRET"].split(",")[0]
    ctx = AppContext.build(settings)
    teams: dict[str, str] = {}
    with (
        BackgroundServer(create_app(ctx)) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        ctx.settings.public_url = server.url
        for i in range(tickets):
            body, team = _ticket(i, rnd, run)
            raw = json.dumps(body).encode()
            sig = signing.sign(secret, raw, int(time.time()))
            r = http.post(
                "/webhooks/generic",
                content=raw,
                headers={signing.HEADER: sig, "content-type": "application/json"},
            )
            r.raise_for_status()  # queued: the worker below schedules, then "sends"
            teams[str(body["ticket"]["id"])] = team  # type: ignore[index]
        worker = Worker(ctx)
        while worker.run_once():
            pass
        answered = 0
        for token, team in _sent_tokens(ctx, teams):
            if rnd.random() > 0.8:  # some customers never answer
                continue
            mean, spread = TEAMS[team]
            score = max(0, min(10, round(rnd.gauss(mean, spread))))
            http.post(f"/s/{token}", data={"score": score}).raise_for_status()
            group = classify(score)
            if rnd.random() < 0.6:
                http.post(f"/s/{token}/comment", data={"comment": rnd.choice(COMMENTS[group])}).raise_for_status()
            answered += 1
    report = score_report(ctx.engine, parse_period("30d", ctx.clock.now()), "team", min_n=settings.min_segment_n)
    ctx.engine.dispose()
    header = f"Demo: {tickets} tickets closed, {len(teams)} surveys sent, {answered} answered.\n"
    header += "/nps score 30d by team\n"
    return header + render(report)


def _sent_tokens(ctx: AppContext, teams: dict[str, str]) -> list[tuple[str, str]]:
    """(token, team) of each survey sent for this run's tickets (`teams`: ticket id -> team)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(surveys.c.ticket_id, surveys.c.token).where(surveys.c.state == "sent").order_by(surveys.c.id)
        )
        return [(r.token, teams[r.ticket_id]) for r in rows if r.ticket_id in teams]
