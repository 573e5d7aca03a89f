"""A fake Socket Mode WebSocket server: what the URL from ``apps.connections.open`` points at.

aiohttp's server on 127.0.0.1 in a thread of its own. Each connection is greeted with Slack's ``hello``
and kept open (aiohttp answers slack_sdk's pings) until the client, ``drop()`` or ``stop()`` closes it::

    with FakeSocketMode() as ws:
        fake_slack.respond("apps.connections.open", {"ok": True, "url": ws.url})
"""

from __future__ import annotations

import asyncio
import json
import threading

from aiohttp import WSMsgType, web


class FakeSocketMode:
    def __init__(self) -> None:
        self.connections = 0  # WebSocket handshakes accepted so far
        self._open: set[web.WebSocketResponse] = set()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="FakeSocketMode", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake"

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # autoping: pongs slack_sdk's pings, as Slack does
        await ws.prepare(request)
        self.connections += 1
        hello = {"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}, "connection_info": {}}
        await ws.send_str(json.dumps(hello))
        self._open.add(ws)
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._open.discard(ws)
        return ws

    async def _drop(self) -> None:
        for ws in list(self._open):
            await ws.close(code=1001, message=b"going away")

    def drop(self) -> None:
        """Close every open connection from the server's side (Slack restarting a host)."""
        asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
