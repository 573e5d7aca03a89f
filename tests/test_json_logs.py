"""NPS_BOT_LOG_FORMAT=json: a real `nps-bot serve` writes one JSON object per line, and no line carries
the secret, a survey token, a query-string secret or the customer's address, whatever it logs."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx

from nps_bot.plugin import signing
from tests.support.processes import clean_env, free_port, serve

SECRET = "json-log-test-secret-5c1f"
EMAIL = "jurgita.p@example.org"


def test_json_logs_are_one_object_per_line_and_redacted(tmp_path: Path) -> None:
    env = clean_env(
        NPS_BOT_PORT=str(free_port()),
        NPS_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'nps.db'}",
        NPS_BOT_GENERIC_SECRET=SECRET,
        NPS_BOT_FRESHDESK_TOKEN=SECRET,
        NPS_BOT_SURVEY_DELAY="0",
        NPS_BOT_WORKER_POLL_INTERVAL="0.2",
        NPS_BOT_LOG_FORMAT="json",
        NPS_BOT_LOG_LEVEL="DEBUG",  # the most the service will ever say
    )
    with serve(tmp_path, env, ready="/readyz") as served:
        base, lines = served.base, served.lines
        deadline = time.monotonic() + 30
        body = json.dumps(
            {"event": "ticket.closed", "id": "evt-1", "ticket": {"id": "T-1"}, "customer": {"email": EMAIL}}
        ).encode()
        headers = {signing.HEADER: signing.sign(SECRET, body, int(time.time())), "content-type": "application/json"}
        assert httpx.post(f"{base}/webhooks/generic", content=body, headers=headers).status_code == 202
        # Things that log request lines or errors: a forged signature, a secret in a query string,
        # an unknown survey token, a body that names the address in an error.
        forged = {signing.HEADER: "t=1,v1=00"}
        assert httpx.post(f"{base}/webhooks/generic", content=body, headers=forged).status_code == 401
        assert httpx.post(f"{base}/webhooks/freshdesk?token=wrong-{SECRET}", content=b"{}").status_code in (400, 401)
        assert httpx.get(f"{base}/s/not-a-token-{SECRET}").status_code == 404
        broken = f'{{"x": "{EMAIL}"'.encode()
        assert httpx.post(f"{base}/webhooks/generic", content=broken, headers=headers).status_code in (400, 401)

        token = None
        while token is None:  # the survey is sent (console channel); take its token from the database
            assert time.monotonic() < deadline, served.log
            with sqlite3.connect(tmp_path / "nps.db") as db:
                row = db.execute("select token from surveys where state = 'sent'").fetchone()
            token = row[0] if row else None
            time.sleep(0.1)
        assert httpx.post(f"{base}/s/{token}", data={"score": 4}).status_code in (200, 303)
        time.sleep(0.5)

    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert len(records) >= 5
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"] == "uvicorn.access" for r in records) or any("POST" in r["message"] for r in records)
    # The console channel's one job is to show the survey link (its line is the delivery): that logger
    # alone may carry the token. Nothing may carry the secret or the address.
    for r in records:
        text = json.dumps(r, ensure_ascii=False)
        assert SECRET not in text, text
        assert EMAIL not in text and "jurgita" not in text, text
        if r["logger"] != "nps_bot.delivery.console":
            assert token not in text, text
