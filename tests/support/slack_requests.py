"""Inbound Slack requests built the way Slack builds them: form-encoded, signed with v0 HMAC."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

TEAM = {"id": "T0TEST", "domain": "acme"}


def signed_post(
    http: httpx.Client,
    secret: str,
    body: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> httpx.Response:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }
    return http.post("/slack/events", content=body.encode(), headers=headers)


def _user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "username": "ruta", "name": "ruta", "team_id": TEAM["id"]}


def block_action(user_id: str, channel: str, message: dict[str, Any], button: dict[str, Any]) -> str:
    """A `block_actions` interaction for one clicked button, as Slack POSTs it (payload=<json>)."""
    payload = {
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "1337.42.abcdef",
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "directmessage"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEST/1/abc",
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": button.get("block_id", "b"),
                "text": button["text"],
                "value": button["value"],
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission(user_id: str, view: dict[str, Any], values: dict[str, Any]) -> str:
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": _user(user_id),
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "trigger_id": "1337.43.abcdef",
        "view": {
            "id": "V0TEST",
            "team_id": TEAM["id"],
            "type": "modal",
            "blocks": view["blocks"],
            "private_metadata": view["private_metadata"],
            "callback_id": view["callback_id"],
            "state": {"values": values},
            "hash": "1700000000.abc",
            "title": view["title"],
            "app_id": "A0TEST",
            "bot_id": "B0TEST",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def slash_command(
    text: str,
    user_id: str = "U0ADMIN",
    channel: str = "C0GENERAL",
    response_url: str = "https://hooks.slack.com/commands/T0TEST/1/abc",
) -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": "lead",
            "command": "/nps",
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1337.44.abcdef",
        }
    )


def dm_event(user_id: str, channel: str, text: str, *, event_id: str = "Ev0TEST") -> str:
    """An Events API `message.im` callback (JSON body, not form-encoded)."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "A0TEST",
            "event": {
                "type": "message",
                "channel": channel,
                "user": user_id,
                "text": text,
                "ts": f"{time.time():.6f}",
                "event_ts": f"{time.time():.6f}",
                "channel_type": "im",
            },
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
    )


def home_opened(user: str) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "A0TEST",
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": "Ev0HOME",
            "event_time": int(time.time()),
        }
    )
