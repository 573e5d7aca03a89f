"""conversations.info (can /nps post here?), conversations.open (the DM an export is sent to) and
conversations.history (finding a survey DM an interrupted attempt posted)."""

from __future__ import annotations

from tests.fakes.slack.workspace import JSON, ApiError, Channel, Request, Workspace


def channel_payload(ws: Workspace, ch: Channel) -> JSON:
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
        "context_team_id": ws.team_id,
    }


def open_(ws: Workspace, req: Request) -> JSON:
    p = req.params
    if p.get("channel"):
        return {"channel": {"id": str(p["channel"])}}
    users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
    if not users:
        raise ApiError("users_list_not_supplied")
    channel_id = "D" + users[0][1:] if len(users) == 1 else "G" + "".join(u[1:4] for u in users)[:10].upper()
    return {"channel": {"id": channel_id}, "no_op": False, "already_open": False}


def info(ws: Workspace, req: Request) -> JSON:
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
                "context_team_id": ws.team_id,
            }
        }
    with ws.lock:
        ch = ws.channels.get(channel_id)
        # Slack hides private channels from non-members.
        if ch is None or (ch.is_private and not ch.is_member):
            raise ApiError("channel_not_found")
        return {"channel": channel_payload(ws, ch)}


def _flag(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def history(ws: Workspace, req: Request) -> JSON:
    """Newest first; ``metadata`` only with ``include_all_metadata``, as Slack does."""
    p = req.params
    channel_id = str(p.get("channel") or "")
    if not channel_id:
        raise ApiError("channel_not_found")
    with ws.lock:
        ch = ws.channels.get(channel_id)
        if ch is not None and ch.is_private and not ch.is_member:
            raise ApiError("channel_not_found")
        posted = list(ws.messages.get(channel_id, []))
    try:
        limit = min(max(int(p.get("limit") or 100), 1), 999)
    except ValueError:
        raise ApiError("invalid_limit") from None
    oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
    window = [m for m in reversed(posted) if oldest < float(m["ts"]) <= latest]
    messages = [
        dict(m) if _flag(p.get("include_all_metadata")) else {k: v for k, v in m.items() if k != "metadata"}
        for m in window[:limit]
    ]
    return {"messages": messages, "has_more": len(window) > limit, "pin_count": 0}


METHODS = {"conversations.open": open_, "conversations.info": info, "conversations.history": history}
