"""users.lookupByEmail (finding a customer's Slack id) and users.info (admin check, time zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.fakes.slack.workspace import JSON, ApiError, Request, User, Workspace


def user_payload(ws: Workspace, user: User) -> JSON:
    try:
        now = datetime.now(ZoneInfo(user.tz))
        offset = now.utcoffset()
        tz_offset = int(offset.total_seconds()) if offset is not None else 0
        tz_label = now.tzname() or user.tz
    except (ZoneInfoNotFoundError, ValueError):
        tz_offset, tz_label = 0, user.tz
    return {
        "id": user.id,
        "team_id": ws.team_id,
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
            "team": ws.team_id,
        },
    }


def lookup_by_email(ws: Workspace, req: Request) -> JSON:
    wanted = str(req.params.get("email") or "").lower()
    with ws.lock:
        for user in ws.users.values():
            if user.email.lower() == wanted:
                return {"user": user_payload(ws, user)}
    raise ApiError("users_not_found")


def info(ws: Workspace, req: Request) -> JSON:
    with ws.lock:
        user = ws.users.get(str(req.params.get("user") or ""))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user_payload(ws, user)}


METHODS = {"users.lookupByEmail": lookup_by_email, "users.info": info}
