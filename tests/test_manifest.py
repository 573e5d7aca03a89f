"""The Slack app manifest asks for exactly the scopes the code needs, and points at our routes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from integrations.slack.scopes import COMMAND_SCOPES, EVENT_SCOPES, METHOD_SCOPES, POSTING_SCOPES

ROOT = Path(__file__).resolve().parent.parent
SLACK_SRC = ROOT / "integrations" / "slack"
CALL = re.compile(r"\bclient\.(\w+)\(")


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifests" / "slack" / "manifest.yaml").read_text())


def called_methods() -> set[str]:
    return {m for f in SLACK_SRC.glob("*.py") for m in CALL.findall(f.read_text())}


def test_every_called_method_has_known_scopes() -> None:
    unknown = called_methods() - METHOD_SCOPES.keys()
    assert not unknown, f"add these Slack methods to integrations/slack/scopes.py: {unknown}"
    assert called_methods(), "the scan found the Slack calls"


def test_manifest_scopes_are_exactly_what_the_code_uses() -> None:
    m = manifest()
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    needed = set(COMMAND_SCOPES) | POSTING_SCOPES
    for method in called_methods():
        needed |= METHOD_SCOPES[method]
    for event in events:
        needed |= EVENT_SCOPES[event]
    assert set(m["oauth_config"]["scopes"]["bot"]) == needed


def test_manifest_routes_point_at_the_one_slack_endpoint() -> None:
    m = manifest()
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/nps"
    urls = {
        command["url"],
        m["settings"]["interactivity"]["request_url"],
        m["settings"]["event_subscriptions"]["request_url"],
    }
    assert {u.split("://", 1)[1].split("/", 1)[1] for u in urls} == {"slack/events"}
    assert m["settings"]["interactivity"]["is_enabled"] is True


def test_bolt_listens_to_the_manifest_events() -> None:
    source = "".join(f.read_text() for f in SLACK_SRC.glob("*.py"))
    for event in manifest()["settings"]["event_subscriptions"]["bot_events"]:
        # message.im arrives as a "message" event with channel_type "im".
        assert f'@app.event("{event.split(".")[0]}")' in source, event
