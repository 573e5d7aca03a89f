"""auth.test: Bolt calls it (once per app) to learn who the bot is before running a listener."""

from __future__ import annotations

from tests.fakes.slack.workspace import JSON, Request, Workspace


def auth_test(ws: Workspace, req: Request) -> JSON:
    body: JSON = {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "is_enterprise_install": False,
    }
    if req.token and req.token.startswith("xoxb-"):
        body["bot_id"] = ws.bot_id
    return body


METHODS = {"auth.test": auth_test}
