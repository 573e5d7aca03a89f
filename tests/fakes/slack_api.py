"""An in-process fake of the Slack Web API for tests.

``FakeSlack`` is a real HTTP server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, ephemeral port) that
``slack_sdk.WebClient`` / ``AsyncWebClient`` (and therefore Bolt apps) talk to via
``base_url=fake.base_url``.  It records every call, answers with Slack-shaped payloads, keeps a small
directory of users and channels, and can be told to fail (429 with ``Retry-After``, 5xx, or any
``{"ok": false}`` error) or to return canned bodies.

Usage::

    def test_something(fake_slack):  # fixture exported below
        fake_slack.add_channel("C0001", "general", is_member=True)
        client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
        client.chat_postMessage(channel="C0001", text="hi")
        (call,) = fake_slack.calls_to("chat.postMessage")
        assert call.params["text"] == "hi"

Behaviour that mirrors Slack (and that tests can rely on):

* every method answers HTTP 200; errors are ``{"ok": false, "error": ...}``;
* a token that is missing or doesn't start with ``xoxb-``/``xoxp-`` gets ``invalid_auth``;
* posting to a configured public channel the bot isn't in is ``not_in_channel`` (unless ``chat:write.public``
  is in ``fake.scopes``); a private one is ``channel_not_found`` (so is ``conversations.info`` on it);
  channels that were never configured are accepted, unless ``FakeSlack(strict_channels=True)``;
* posting to a user id ``U…``/``W…`` answers with the DM channel ``D…``;
* ``ts`` values are unique and strictly increasing (``"1700000000.000100"``, ``"1700000000.000200"``, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import itertools
import json
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

__all__ = ["Call", "FakeSlack", "fake_slack"]

JSON = dict[str, Any]

#: Parameters that Slack accepts as JSON-encoded strings (form bodies) and that we decode for assertions.
JSON_FIELDS = frozenset({"blocks", "view", "attachments", "files", "metadata"})

VALID_TOKEN_PREFIXES = ("xoxb-", "xoxp-")

DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "commands",
        "im:write",
        "users:read",
        "users:read.email",
        "channels:read",
        "groups:read",
        "channels:join",
        "files:write",
    }
)

_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100


@dataclass
class Call:
    """One request received by the fake (including ones that were answered with an error)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    token: str | None
    status: int = 200
    response: Any = None
    http_method: str = "POST"
    connection: int = 0  # sequence number of the TCP connection the request arrived on

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error") if isinstance(self.response, dict) else None


@dataclass
class _Planned:
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


@dataclass
class _User:
    id: str
    email: str
    name: str
    real_name: str
    tz: str
    is_admin: bool
    is_bot: bool
    deleted: bool


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool
    is_member: bool
    is_archived: bool


@dataclass
class _PendingFile:
    id: str
    filename: str
    length: int
    alt_txt: str | None = None


@dataclass
class _Request:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    token: str | None


@dataclass
class _Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class FakeSlack:
    """A fake Slack Web API server.  See the module docstring."""

    def __init__(
        self,
        *,
        team_id: str = "T0FAKE0001",
        team: str = "Fake Workspace",
        team_domain: str = "fake-workspace",
        bot_user_id: str = "U0FAKEBOT1",
        bot_id: str = "B0FAKEBOT1",
        bot_name: str = "nps-bot",
        app_id: str = "A0FAKEAPP1",
        scopes: set[str] | frozenset[str] = DEFAULT_SCOPES,
        strict_channels: bool = False,
    ) -> None:
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        #: Granted OAuth scopes (mutable); echoed in ``X-OAuth-Scopes``; ``chat:write.public`` matters.
        self.scopes: set[str] = set(scopes)
        self.strict_channels = strict_channels
        #: Raw bytes POSTed to upload URLs, by file id.
        self.uploads: dict[str, bytes] = {}
        #: Exceptions raised inside the fake while handling a request (answered with HTTP 500).
        self.server_errors: list[BaseException] = []

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._planned: dict[str, deque[_Planned]] = {}
        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._pending_files: dict[str, _PendingFile] = {}
        self._views: dict[str, JSON] = {}
        self._home_view_ids: dict[str, str] = {}
        self._ts_micros = _FIRST_TS_MICROS - _TS_STEP_MICROS
        self._ids = itertools.count(1)
        self._connections = itertools.count(1)

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            raise RuntimeError("FakeSlack already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
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
        return f"http://127.0.0.1:{self.port}/api/"

    def upload_url(self, file_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/upload/{file_id}"

    # ------------------------------------------------------------------ configuration

    def add_user(
        self,
        user_id: str,
        email: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "America/Los_Angeles",
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> JSON:
        """Add a user to the ``users.info`` / ``users.lookupByEmail`` directory; returns its payload."""
        name = name or email.split("@", 1)[0]
        user = _User(user_id, email, name, real_name or name, tz, is_admin, is_bot, deleted)
        with self._lock:
            self._users[user_id] = user
        return self._user_payload(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = False,
        is_archived: bool = False,
    ) -> None:
        with self._lock:
            self._channels[channel_id] = _Channel(channel_id, name, is_private, is_member, is_archived)

    def set_member(self, channel_id: str, is_member: bool = True) -> None:
        with self._lock:
            self._channels[channel_id].is_member = is_member

    # ------------------------------------------------------------------ programmed answers

    def fail(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str = "ratelimited",
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` and ``{"ok": false, "error"}``.

        ``Retry-After`` is sent for 429s (when ``retry_after`` is not None).  Use ``status=200`` to simulate a
        plain Slack API error such as ``fail("chat.postMessage", status=200, error="is_archived")``.
        """
        headers = {"Retry-After": str(retry_after)} if status == 429 and retry_after is not None else {}
        self._plan(method, _Planned(status, {"ok": False, "error": error}, headers, times))

    def respond(
        self,
        method: str,
        json_body: Any,
        times: int = 1,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``json_body`` verbatim."""
        self._plan(method, _Planned(status, json_body, dict(headers or {}), times))

    def _plan(self, method: str, planned: _Planned) -> None:
        if planned.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._planned.setdefault(method, deque()).append(planned)

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 2.0) -> list[Call]:
        """Block until ``count`` calls to ``method`` were received; return them all.

        Raises AssertionError listing what was received on timeout.  From async code use
        :meth:`wait_for_async` instead, so the event loop can keep sending the requests.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [c for c in self._calls if c.method == method]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(method, count, timeout, matching))
                self._cond.wait(remaining)

    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 2.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            matching = self.calls_to(method)
            if len(matching) >= count:
                return matching
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, timeout, matching))
            await asyncio.sleep(0.01)

    def _timeout_message(self, method: str, count: int, timeout: float, matching: list[Call]) -> str:
        received = ", ".join(f"{c.method}[{c.status}{'' if c.ok else ' ' + str(c.error)}]" for c in self.calls)
        return f"expected {count} call(s) to {method!r} within {timeout}s, got {len(matching)}; received: [{received}]"

    def reset(self) -> None:
        """Forget recorded calls, uploads and programmed answers (users, channels and scopes are kept)."""
        with self._lock:
            self._calls.clear()
            self._planned.clear()
            self.uploads.clear()
            self._pending_files.clear()
            self.server_errors.clear()

    # ------------------------------------------------------------------ request handling (server threads)

    def _handle_api(self, req: _Request, connection: int, http_method: str) -> _Reply:
        with self._lock:
            planned = self._take_planned(req.method)
        if planned is not None:
            reply = _Reply(planned.body, planned.status, dict(planned.headers))
        elif not _valid_token(req.token):
            reply = _Reply({"ok": False, "error": "invalid_auth"})
        else:
            try:
                handler = self._HANDLERS.get(req.method)
                body = handler(self, req) if handler is not None else {}
                reply = _Reply({"ok": True, **body})
            except _ApiError as e:
                reply = _Reply({"ok": False, "error": e.error})
        reply.headers.setdefault("X-OAuth-Scopes", ",".join(sorted(self.scopes)))
        self._record(
            Call(
                method=req.method,
                params=req.params,
                headers=req.headers,
                token=req.token,
                status=reply.status,
                response=reply.body,
                http_method=http_method,
                connection=connection,
            )
        )
        return reply

    def _handle_upload(self, file_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        content_type = headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            parts = _parse_multipart(content_type, body)
            file_parts = [v for v in parts.values() if isinstance(v, bytes)]
            if file_parts:
                body = file_parts[0]
        with self._lock:
            if file_id not in self._pending_files:
                return 404, "Not Found"
            self.uploads[file_id] = body
        return 200, f"OK - {len(body)}"

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _take_planned(self, method: str) -> _Planned | None:
        queue = self._planned.get(method)
        if not queue:
            return None
        planned = queue[0]
        planned.remaining -= 1
        if planned.remaining <= 0:
            queue.popleft()
        return planned

    # ------------------------------------------------------------------ id / payload helpers

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}0FAKE{next(self._ids):05d}"

    def _next_ts(self) -> str:
        with self._lock:
            self._ts_micros += _TS_STEP_MICROS
            micros = self._ts_micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _user_payload(self, user: _User) -> JSON:
        try:
            now = datetime.now(ZoneInfo(user.tz))
            offset = now.utcoffset()
            tz_offset = int(offset.total_seconds()) if offset is not None else 0
            tz_label = now.tzname() or user.tz
        except (ZoneInfoNotFoundError, ValueError):
            tz_offset, tz_label = 0, user.tz
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "is_admin": user.is_admin,
            "is_owner": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "email": user.email,
                "real_name": user.real_name,
                "real_name_normalized": user.real_name,
                "display_name": user.name,
                "display_name_normalized": user.name,
                "team": self.team_id,
            },
        }

    def _channel_payload(self, ch: _Channel) -> JSON:
        return {
            "id": ch.id,
            "name": ch.name,
            "name_normalized": ch.name,
            "is_channel": not ch.is_private,
            "is_group": ch.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": ch.is_private,
            "is_archived": ch.is_archived,
            "is_general": ch.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": ch.is_member,
            "created": 1_600_000_000,
            "creator": "U0FAKEOWNR",
            "context_team_id": self.team_id,
        }

    def _bot_message(self, params: dict[str, Any], ts: str) -> JSON:
        message: JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": params.get("text") or "",
            "blocks": params.get("blocks") or [],
            "ts": ts,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
            },
        }
        for key in ("attachments", "thread_ts", "metadata"):
            if params.get(key):
                message[key] = params[key]
        return message

    def _resolve_channel(self, channel: str) -> str:
        """Map a channel argument (id, ``#name``/name, or user id) to the id Slack would answer with."""
        if channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.isupper():
            return "D" + channel[1:]
        with self._lock:
            if channel in self._channels:
                return channel
            name = channel.removeprefix("#")
            for ch in self._channels.values():
                if ch.name == name:
                    return ch.id
        if channel.startswith("#"):
            raise _ApiError("channel_not_found")
        return channel

    def _check_can_post(self, channel_id: str) -> None:
        if channel_id.startswith("D"):
            return
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None:
                if self.strict_channels:
                    raise _ApiError("channel_not_found")
                return
            if ch.is_private and not ch.is_member:
                raise _ApiError("channel_not_found")
            if ch.is_archived:
                raise _ApiError("is_archived")
            if not ch.is_member and "chat:write.public" not in self.scopes:
                raise _ApiError("not_in_channel")

    def _make_view(self, view: Any, view_id: str) -> JSON:
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        payload: JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{next(self._ids):08x}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        with self._lock:
            self._views[view_id] = payload
        return payload

    # ------------------------------------------------------------------ method implementations

    def _auth_test(self, req: _Request) -> JSON:
        body: JSON = {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "is_enterprise_install": False,
        }
        if req.token and req.token.startswith("xoxb-"):
            body["bot_id"] = self.bot_id
        return body

    def _chat_post_message(self, req: _Request) -> JSON:
        p = req.params
        channel = self._resolve_channel(str(p.get("channel") or "")) if p.get("channel") else ""
        if not channel:
            raise _ApiError("channel_not_found")
        self._check_can_post(channel)
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            raise _ApiError("no_text")
        ts = self._next_ts()
        return {"channel": channel, "ts": ts, "message": self._bot_message(p, ts)}

    def _chat_post_ephemeral(self, req: _Request) -> JSON:
        p = req.params
        if not p.get("channel"):
            raise _ApiError("channel_not_found")
        if not p.get("user"):
            raise _ApiError("user_not_in_channel")
        self._check_can_post(self._resolve_channel(str(p["channel"])))
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            raise _ApiError("no_text")
        return {"message_ts": self._next_ts()}

    def _chat_update(self, req: _Request) -> JSON:
        p = req.params
        if not p.get("channel"):
            raise _ApiError("channel_not_found")
        if not p.get("ts"):
            raise _ApiError("message_not_found")
        channel = self._resolve_channel(str(p["channel"]))
        ts = str(p["ts"])
        return {
            "channel": channel,
            "ts": ts,
            "text": p.get("text") or "",
            "message": self._bot_message(p, ts),
        }

    def _views_open(self, req: _Request) -> JSON:
        return {"view": self._make_view(req.params.get("view"), self._next_id("V"))}

    def _views_update(self, req: _Request) -> JSON:
        p = req.params
        view_id = p.get("view_id")
        if not view_id and p.get("external_id"):
            with self._lock:
                found = [v["id"] for v in self._views.values() if v.get("external_id") == p["external_id"]]
            if not found:
                raise _ApiError("not_found")
            view_id = found[-1]
        return {"view": self._make_view(p.get("view"), str(view_id or self._next_id("V")))}

    def _views_publish(self, req: _Request) -> JSON:
        user_id = req.params.get("user_id")
        if not user_id:
            raise _ApiError("invalid_arguments")
        with self._lock:
            view_id = self._home_view_ids.setdefault(str(user_id), self._next_id("V"))
        return {"view": self._make_view(req.params.get("view"), view_id)}

    def _views_push(self, req: _Request) -> JSON:
        return self._views_open(req)

    def _conversations_open(self, req: _Request) -> JSON:
        p = req.params
        if p.get("channel"):
            return {"channel": {"id": str(p["channel"])}}
        users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        channel_id = "D" + users[0][1:] if len(users) == 1 else "G" + "".join(u[1:4] for u in users)[:10].upper()
        return {"channel": {"id": channel_id}, "no_op": False, "already_open": False}

    def _conversations_info(self, req: _Request) -> JSON:
        channel_id = str(req.params.get("channel") or "")
        if channel_id.startswith("D"):
            return {
                "channel": {
                    "id": channel_id,
                    "is_im": True,
                    "is_private": True,
                    "is_member": True,
                    "user": "U" + channel_id[1:],
                    "created": 1_600_000_000,
                    "is_archived": False,
                    "is_org_shared": False,
                    "context_team_id": self.team_id,
                }
            }
        with self._lock:
            ch = self._channels.get(channel_id)
            # Slack hides private channels from non-members.
            if ch is None or (ch.is_private and not ch.is_member):
                raise _ApiError("channel_not_found")
            return {"channel": self._channel_payload(ch)}

    def _conversations_join(self, req: _Request) -> JSON:
        channel_id = str(req.params.get("channel") or "")
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None or (ch.is_private and not ch.is_member):
                raise _ApiError("channel_not_found")
            if ch.is_archived:
                raise _ApiError("is_archived")
            ch.is_member = True
            return {"channel": self._channel_payload(ch)}

    def _users_lookup_by_email(self, req: _Request) -> JSON:
        wanted = str(req.params.get("email") or "").lower()
        with self._lock:
            for user in self._users.values():
                if user.email.lower() == wanted:
                    return {"user": self._user_payload(user)}
        raise _ApiError("users_not_found")

    def _users_info(self, req: _Request) -> JSON:
        with self._lock:
            user = self._users.get(str(req.params.get("user") or ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": self._user_payload(user)}

    def _files_get_upload_url_external(self, req: _Request) -> JSON:
        p = req.params
        try:
            length = int(p.get("length", ""))
        except ValueError:
            raise _ApiError("invalid_arguments") from None
        if not p.get("filename"):
            raise _ApiError("invalid_arguments")
        file_id = self._next_id("F")
        with self._lock:
            self._pending_files[file_id] = _PendingFile(file_id, str(p["filename"]), length, p.get("alt_txt"))
        return {"upload_url": self.upload_url(file_id), "file_id": file_id}

    def _files_complete_upload_external(self, req: _Request) -> JSON:
        p = req.params
        files = p.get("files")
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments")
        if p.get("channel_id"):
            self._check_can_post(self._resolve_channel(str(p["channel_id"])))
        result = []
        with self._lock:
            for f in files:
                file_id = f.get("id") if isinstance(f, dict) else None
                pending = self._pending_files.get(str(file_id))
                if pending is None or file_id not in self.uploads:
                    raise _ApiError("file_not_found")
                result.append(
                    {
                        "id": file_id,
                        "title": f.get("title") or pending.filename,
                        "name": pending.filename,
                        "size": len(self.uploads[file_id]),
                        "user": self.bot_user_id,
                    }
                )
        return {"files": result}

    _HANDLERS: ClassVar[dict[str, Callable[[FakeSlack, _Request], JSON]]] = {
        "auth.test": _auth_test,
        "chat.postMessage": _chat_post_message,
        "chat.postEphemeral": _chat_post_ephemeral,
        "chat.update": _chat_update,
        "views.open": _views_open,
        "views.update": _views_update,
        "views.publish": _views_publish,
        "views.push": _views_push,
        "conversations.open": _conversations_open,
        "conversations.info": _conversations_info,
        "conversations.join": _conversations_join,
        "users.lookupByEmail": _users_lookup_by_email,
        "users.info": _users_info,
        "files.getUploadURLExternal": _files_get_upload_url_external,
        "files.completeUploadExternal": _files_complete_upload_external,
    }


# ---------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can be slow in sandboxes.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, sock: socket.socket, opened: bool) -> None:
        with self._open_lock:
            if opened:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_open_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive connections."""
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection_number = next(self.server.fake._connections)
        self.server.track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, http_method: str) -> None:
        fake = self.server.fake
        try:
            body = self._read_body()
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if url.path.startswith("/upload/"):
                status, text = fake._handle_upload(url.path.removeprefix("/upload/"), body, headers)
                self._send(status, text.encode(), "text/plain; charset=utf-8", {})
                return
            if not url.path.startswith("/api/"):
                self._send(404, b"Not Found", "text/plain; charset=utf-8", {})
                return
            params = _parse_params(url.query, headers.get("content-type", ""), body)
            req = _Request(url.path.removeprefix("/api/"), params, headers, _token(headers, params))
            reply = fake._handle_api(req, self.connection_number, http_method)
            payload = json.dumps(reply.body).encode()
            self._send(reply.status, payload, "application/json; charset=utf-8", reply.headers)
        except Exception as e:
            with fake._lock:
                fake.server_errors.append(e)
            payload = json.dumps({"ok": False, "error": f"fake_slack_internal_error: {e!r}"}).encode()
            self._send(500, payload, "application/json; charset=utf-8", {})
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def _valid_token(token: str | None) -> bool:
    return token is not None and token.startswith(VALID_TOKEN_PREFIXES)


def _token(headers: dict[str, str], params: dict[str, Any]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


def _flatten(qs: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in qs.items()}


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[name] = data
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8")
    return fields


def _parse_params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = _flatten(parse_qs(query, keep_blank_values=True)) if query else {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json":
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                params.update(decoded)
        elif ctype == "multipart/form-data":
            params.update(_parse_multipart(content_type, body))
        else:  # application/x-www-form-urlencoded (also the fallback, as Slack does)
            params.update(_flatten(parse_qs(body.decode("utf-8"), keep_blank_values=True)))
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started :class:`FakeSlack`; stopped after the test."""
    with FakeSlack() as fake:
        yield fake
