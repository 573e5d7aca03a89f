"""``FakeSlack``: the workspace state and call recorder behind a real HTTP server, plus method dispatch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.slack import auth, chat, conversations, files, users, views
from tests.fakes.slack.limits import SLACK_PER_CHANNEL, SLACK_TIERS, RateLimits
from tests.fakes.slack.recording import Call, Recorder
from tests.fakes.slack.transport import API_PATH, UPLOAD_PATH, Reply, Server
from tests.fakes.slack.workspace import JSON, ApiError, Request, Workspace

VALID_TOKEN_PREFIXES = ("xoxb-", "xoxp-")

#: The Web API methods nps-bot calls (integrations/slack, plus auth.test from Bolt). With a valid token, any
#: other method answers ``{"ok": true}``; ``fail``/``respond`` override any method.
METHODS: dict[str, Callable[[Any, Request], JSON]] = {
    **auth.METHODS,
    **chat.METHODS,
    **conversations.METHODS,
    **users.METHODS,
    **views.METHODS,
    **files.METHODS,
}


class FakeSlack(Workspace, Recorder):
    """A fake Slack Web API server.  See the ``tests.fakes.slack`` package docstring.

    Keyword arguments (workspace identity, ``scopes``, ``strict_channels``) are those of ``Workspace``.
    """

    _server: Server | None = None
    _thread: threading.Thread | None = None
    #: Slack's rate limits, when enforced (``enforce_limits``); off by default.
    limits: RateLimits | None = None
    #: Called with every recorded call before it is answered (in a server thread): a test can act on the
    #: moment a request reached Slack, e.g. kill the process that sent it before it reads the answer.
    on_call: Callable[[Call], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            raise RuntimeError("FakeSlack already started")
        self._server = Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Pass as ``base_url=`` to ``WebClient`` / ``AsyncWebClient``."""
        return f"http://127.0.0.1:{self.port}{API_PATH}"

    def upload_url(self, file_id: str) -> str:
        return f"http://127.0.0.1:{self.port}{UPLOAD_PATH}{file_id}"

    def enforce_limits(
        self,
        methods: dict[str, tuple[float, int]] | None = None,
        per_channel: tuple[float, int] | None = SLACK_PER_CHANNEL,
        retry_after: str | None = None,
    ) -> RateLimits:
        """Answer 429 with ``Retry-After`` when a method goes over its (per minute, burst) limit; Slack's
        tiers (``SLACK_TIERS``) by default. ``retry_after`` is sent verbatim (e.g. ``"4.0"``) when given."""
        self.limits = RateLimits(SLACK_TIERS if methods is None else methods, per_channel, retry_after)
        return self.limits

    def reset(self) -> None:
        """Forget recorded calls, uploads and programmed answers (users, channels and scopes are kept)."""
        self.clear_recording()
        self.clear_files()

    # ------------------------------------------------------------------ request handling (server threads)

    def handle_api(self, req: Request, connection: int, http_method: str) -> Reply:
        planned = self.take_planned(req.method)
        if planned is not None:
            reply = Reply(planned.body, planned.status, dict(planned.headers))
        elif not (req.token is not None and req.token.startswith(VALID_TOKEN_PREFIXES)):
            reply = Reply({"ok": False, "error": "invalid_auth"})
        elif self.limits is not None and (wait := self.limits.check(req.method, _channel(req))) is not None:
            reply = Reply({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": wait})
        else:
            method = METHODS.get(req.method)
            try:
                reply = Reply({"ok": True, **(method(self, req) if method is not None else {})})
            except ApiError as e:
                reply = Reply({"ok": False, "error": e.error})
        reply.headers.setdefault("X-OAuth-Scopes", ",".join(sorted(self.scopes)))
        call = Call(
            **vars(req),
            status=reply.status,
            response=reply.body,
            http_method=http_method,
            connection=connection,
        )
        self.record(call)
        if self.on_call is not None:
            self.on_call(call)
        return reply

    def handle_upload(self, file_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        return files.receive_upload(self, file_id, body, headers)


def _channel(req: Request) -> str | None:
    channel = req.params.get("channel")
    return str(channel) if channel else None
