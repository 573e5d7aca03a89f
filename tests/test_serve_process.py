"""`nps-bot serve` as a user starts it: a real process on a non-default port, no NPS_BOT_PUBLIC_URL,
a signed close posted to it, and the survey link it logs followed to the hosted page."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from nps_bot.plugin import signing
from tests.support.processes import clean_env, free_port, serve

SECRET = "serve-test-secret"


def test_survey_links_follow_the_port_when_public_url_is_unset(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        NPS_BOT_PORT=str(port),
        NPS_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'nps.db'}",
        NPS_BOT_GENERIC_SECRET=SECRET,
        NPS_BOT_SURVEY_DELAY="0",
        NPS_BOT_WORKER_POLL_INTERVAL="0.2",
    )
    with serve(tmp_path, env) as served:
        base, lines = served.base, served.lines
        deadline = time.monotonic() + 30
        body = json.dumps(
            {"event": "ticket.closed", "id": "evt-1", "ticket": {"id": "T-1"}, "customer": {"email": "a@example.com"}}
        ).encode()
        headers = {signing.HEADER: signing.sign(SECRET, body, int(time.time())), "content-type": "application/json"}
        assert httpx.post(f"{base}/webhooks/generic", content=body, headers=headers).status_code == 202
        link = None
        while link is None:
            assert time.monotonic() < deadline, served.log
            found = [m for line in list(lines) if (m := re.search(r"\[console\].*?(http://\S+/s/\S+)", line))]
            link = found[0].group(1) if found else None
            time.sleep(0.1)
        assert link.startswith(f"{base}/s/"), link
        page = httpx.post(link, data={"score": 9}, follow_redirects=True)
        assert page.status_code == 200
        assert any(f"survey links point at {base}" in line for line in lines)
        assert not any("a@example.com" in line for line in lines)
