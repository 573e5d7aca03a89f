"""The fake workspace's state: who the bot is, granted scopes, users, channels, pending uploads, ids."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "commands",
        "im:write",
        "users:read",
        "users:read.email",
        "channels:read",
        "groups:read",
        "files:write",
    }
)

_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100


class ApiError(Exception):
    """Raised by a method implementation; answered as HTTP 200 ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Request:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    token: str | None


@dataclass
class User:
    id: str
    email: str
    name: str
    real_name: str
    tz: str
    is_admin: bool
    is_bot: bool
    deleted: bool


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    is_member: bool
    is_archived: bool


@dataclass
class PendingFile:
    id: str
    filename: str
    length: int
    alt_txt: str | None = None


class Workspace:
    """Workspace identity and directory, plus the channel rules Slack applies when posting."""

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
        super().__init__()  # cooperative: FakeSlack mixes in the call recorder
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

        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.pending_files: dict[str, PendingFile] = {}
        self.home_view_ids: dict[str, str] = {}
        #: Messages posted (oldest first) by channel id, as conversations.history returns them.
        self.messages: dict[str, list[JSON]] = {}
        self._ts_micros = _FIRST_TS_MICROS - _TS_STEP_MICROS
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ configuration (tests)

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
        from tests.fakes.slack.users import user_payload

        name = name or email.split("@", 1)[0]
        user = User(user_id, email, name, real_name or name, tz, is_admin, is_bot, deleted)
        with self.lock:
            self.users[user_id] = user
        return user_payload(self, user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = False,
        is_archived: bool = False,
    ) -> None:
        with self.lock:
            self.channels[channel_id] = Channel(channel_id, name, is_private, is_member, is_archived)

    def clear_files(self) -> None:
        with self.lock:
            self.uploads.clear()
            self.pending_files.clear()

    # ------------------------------------------------------------------ ids

    def next_serial(self) -> int:
        with self.lock:
            return next(self._ids)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{self.next_serial():05d}"

    def next_ts(self) -> str:
        """Unique, strictly increasing message timestamps: 1700000000.000100, 1700000000.000200, ..."""
        with self.lock:
            self._ts_micros += _TS_STEP_MICROS
            micros = self._ts_micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # ------------------------------------------------------------------ channel rules

    def resolve_channel(self, channel: str) -> str:
        """Map a channel argument (id, ``#name``/name, or user id) to the id Slack would answer with."""
        if channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.isupper():
            return "D" + channel[1:]
        with self.lock:
            if channel in self.channels:
                return channel
            name = channel.removeprefix("#")
            for ch in self.channels.values():
                if ch.name == name:
                    return ch.id
        if channel.startswith("#"):
            raise ApiError("channel_not_found")
        return channel

    def check_can_post(self, channel_id: str) -> None:
        if channel_id.startswith("D"):
            return
        with self.lock:
            ch = self.channels.get(channel_id)
            if ch is None:
                if self.strict_channels:
                    raise ApiError("channel_not_found")
                return
            if ch.is_private and not ch.is_member:
                raise ApiError("channel_not_found")
            if ch.is_archived:
                raise ApiError("is_archived")
            if not ch.is_member and "chat:write.public" not in self.scopes:
                raise ApiError("not_in_channel")
