"""chat.postMessage, chat.postEphemeral, chat.update: survey DMs, alerts, digests and their updates."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack.workspace import JSON, ApiError, Request, Workspace


def _require_content(params: dict[str, Any]) -> None:
    if not (params.get("text") or params.get("blocks") or params.get("attachments")):
        raise ApiError("no_text")


def bot_message(ws: Workspace, params: dict[str, Any], ts: str) -> JSON:
    message: JSON = {
        "type": "message",
        "user": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "team": ws.team_id,
        "text": params.get("text") or "",
        "blocks": params.get("blocks") or [],
        "ts": ts,
        "bot_profile": {"id": ws.bot_id, "app_id": ws.app_id, "name": ws.bot_name, "team_id": ws.team_id},
    }
    for key in ("attachments", "thread_ts", "metadata"):
        if params.get(key):
            message[key] = params[key]
    return message


def post_message(ws: Workspace, req: Request) -> JSON:
    p = req.params
    channel = ws.resolve_channel(str(p.get("channel") or "")) if p.get("channel") else ""
    if not channel:
        raise ApiError("channel_not_found")
    ws.check_can_post(channel)
    _require_content(p)
    ts = ws.next_ts()
    message = bot_message(ws, p, ts)
    if not p.get("thread_ts"):  # thread replies are not in conversations.history
        with ws.lock:
            ws.messages.setdefault(channel, []).append(message)
    return {"channel": channel, "ts": ts, "message": message}


def post_ephemeral(ws: Workspace, req: Request) -> JSON:
    p = req.params
    if not p.get("channel"):
        raise ApiError("channel_not_found")
    if not p.get("user"):
        raise ApiError("user_not_in_channel")
    ws.check_can_post(ws.resolve_channel(str(p["channel"])))
    _require_content(p)
    return {"message_ts": ws.next_ts()}


def update(ws: Workspace, req: Request) -> JSON:
    p = req.params
    if not p.get("channel"):
        raise ApiError("channel_not_found")
    if not p.get("ts"):
        raise ApiError("message_not_found")
    channel = ws.resolve_channel(str(p["channel"]))
    ts = str(p["ts"])
    return {"channel": channel, "ts": ts, "text": p.get("text") or "", "message": bot_message(ws, p, ts)}


METHODS = {
    "chat.postMessage": post_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.update": update,
}
