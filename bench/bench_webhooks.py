"""Webhook ingest over real HTTP: signed generic webhooks per second, against /healthz (the
same server and client doing the least possible work) as the same-run baseline.

Run by hand: `python bench/bench_webhooks.py [requests]`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nps_bot.app import AppContext
from nps_bot.config import Settings
from nps_bot.plugin import signing
from nps_bot.server import BackgroundServer
from nps_bot.web import create_app

SECRET = "bench-secret"


def body(i: int) -> bytes:
    return json.dumps({
        "event": "ticket.closed", "id": f"evt_{i}",
        "ticket": {"id": f"T-{i}", "team": "Billing", "tags": ["a", "b"]},
        "customer": {"email": f"c{i}@example.com", "language": "lt", "attributes": {"plan": "pro"}},
        "agent": {"id": "1", "name": "Ona"},
    }).encode()  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ["NPS_BOT_GENERIC_SECRET"] = SECRET
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'b.db'}", embedded_worker=False)
        ctx = AppContext.build(settings)
        with BackgroundServer(create_app(ctx)) as server, httpx.Client(base_url=server.url) as http:
            start = time.perf_counter()
            for _ in range(n):
                http.get("/healthz")
            health = n / (time.perf_counter() - start)
            payloads = [body(i) for i in range(n)]
            start = time.perf_counter()
            for raw in payloads:
                sig = signing.sign(SECRET, raw, int(time.time()))
                r = http.post("/webhooks/generic", content=raw, headers={signing.HEADER: sig})
                assert r.status_code == 202, r.text
            hooks = n / (time.perf_counter() - start)
            start = time.perf_counter()
            for raw in payloads[: n // 2]:  # redeliveries: answered "duplicate"
                sig = signing.sign(SECRET, raw, int(time.time()))
                http.post("/webhooks/generic", content=raw, headers={signing.HEADER: sig})
            dups = (n // 2) / (time.perf_counter() - start)
        print(f"GET /healthz (baseline)        : {health:8.0f} req/s")
        print(f"POST /webhooks/generic (new)    : {hooks:8.0f} req/s  ({hooks / health:.2f}x baseline)")
        print(f"POST /webhooks/generic (dup)    : {dups:8.0f} req/s  ({dups / health:.2f}x baseline)")
        ctx.engine.dispose()


if __name__ == "__main__":
    main()
