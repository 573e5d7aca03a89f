"""The Slack Web API calls nps-bot makes, and nothing else: every `client.<method>(` lives here.

Services (sync, worker threads) use SlackApi; Bolt listeners use AsyncSlackApi around the client
Bolt hands them. tests/test_manifest.py scans this module for the methods called, so the app
manifest asks for exactly the scopes these calls need. Posted messages are referred to as
"channel:ts" strings, the form the database stores.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from integrations.slack.blocks.kit import Blocks
from integrations.slack.clients import header_seconds

NO_UNFURL = {"unfurl_links": False, "unfurl_media": False}


def error_code(exc: Exception) -> str:
    """Slack's error code ("channel_not_found"...), or the exception's type for network failures."""
    if not isinstance(exc, SlackApiError):
        return type(exc).__name__
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error") or "unknown_error") if isinstance(data, dict) else "unknown_error"


def retry_after(exc: Exception) -> float | None:
    """The seconds Slack asked us to wait (HTTP 429 Retry-After), if it did."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return None
    return header_seconds(exc.response.headers)


def status_code(exc: SlackApiError) -> int:
    return exc.response.status_code if exc.response is not None else 0


def message_ref(response: Any) -> str:
    return f"{response['channel']}:{response['ts']}"


def split_ref(ref: str) -> tuple[str, str]:
    channel, _, ts = ref.partition(":")
    return channel, ts


class SlackApi:
    """Sync calls, for services running in worker threads."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, text: str, blocks: Blocks, **options: Any) -> str:
        """Post a message; returns its "channel:ts" reference."""
        return message_ref(self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, **options))

    def update(self, ref: str, text: str, blocks: Blocks) -> None:
        channel, ts = split_ref(ref)
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def upload(self, channel: str, data: bytes, filename: str, title: str, **options: Any) -> None:
        self.client.files_upload_v2(channel=channel, file=data, filename=filename, title=title, **options)

    def user(self, user_id: str) -> dict[str, Any]:
        return dict(self.client.users_info(user=user_id)["user"])

    def user_by_email(self, email: str) -> dict[str, Any]:
        return dict(self.client.users_lookupByEmail(email=email).get("user") or {})

    def channel(self, channel_id: str) -> dict[str, Any]:
        return dict(self.client.conversations_info(channel=channel_id)["channel"])

    def open_dm(self, user_id: str) -> str:
        return str(self.client.conversations_open(users=user_id)["channel"]["id"])

    def history(self, channel: str, limit: int = 100) -> list[dict[str, Any]]:
        """The conversation's latest messages, newest first, with the metadata they were posted with."""
        response = self.client.conversations_history(channel=channel, limit=limit, include_all_metadata=True)
        return list(response.get("messages") or [])


class AsyncSlackApi:
    """Async calls, for Bolt listeners (with the client Bolt passes in)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def update(self, ref: str, text: str, blocks: Blocks) -> None:
        channel, ts = split_ref(ref)
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    async def reply(self, channel: str, text: str, thread_ts: str | None = None) -> None:
        await self.client.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self.client.views_publish(user_id=user_id, view=view)
