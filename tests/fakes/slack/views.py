"""views.open (the "why?" and alert-outcome modals) and views.publish (App Home)."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.slack.workspace import JSON, ApiError, Request, Workspace


def _view(ws: Workspace, view: Any, view_id: str) -> JSON:
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments")
    return {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view.get("type", "modal"),
        "title": view.get("title"),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{ws.next_serial():08x}",
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }


def open_(ws: Workspace, req: Request) -> JSON:
    return {"view": _view(ws, req.params.get("view"), ws.next_id("V"))}


def publish(ws: Workspace, req: Request) -> JSON:
    """A user's Home tab keeps its view id across publishes."""
    user_id = req.params.get("user_id")
    if not user_id:
        raise ApiError("invalid_arguments")
    with ws.lock:
        view_id = ws.home_view_ids.setdefault(str(user_id), ws.next_id("V"))
    return {"view": _view(ws, req.params.get("view"), view_id)}


METHODS = {"views.open": open_, "views.publish": publish}
