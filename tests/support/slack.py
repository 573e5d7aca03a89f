"""The live app wired to the fake Slack Web API: its environment, delivering a survey DM, clicking a button."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.fakes.slack import Call, FakeSlack
from tests.support.app import SLACK_SIGNING_SECRET, Live
from tests.support.slack_requests import block_action, signed_post


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "NPS_BOT_SLACK_API_URL": fake.base_url,
    }


def admin_in_channel(make_live: Callable[..., Live], fake: FakeSlack, admin: str, channel: str) -> Live:
    """The live app in a workspace with one admin (UTC) and one channel the bot is a member of."""
    fake.add_user(admin, "lead@acme.example", is_admin=True, tz="UTC")
    fake.add_channel(channel, "support-nps", is_member=True)
    return make_live(env=slack_env(fake))


def deliver(live: Live, fake: FakeSlack) -> Call:
    """Let the delay pass, run the worker, and return the DM Slack received."""
    live.clock.advance(timedelta(hours=1))
    assert live.worker().run_once() == 1
    (call,) = fake.calls_to("chat.postMessage")
    return call


def button(blocks: list[dict[str, Any]], label: str) -> dict[str, Any]:
    for block in blocks:
        if block["type"] == "actions":
            for element in block["elements"]:
                if element["text"]["text"] == label:
                    return {**element, "block_id": block["block_id"]}
    raise AssertionError(f"no button {label!r}")


def click(live: Live, fake: FakeSlack, dm: Any, label: str) -> None:
    message = {"type": "message", "ts": dm.response["ts"], "text": dm.params["text"], "blocks": dm.params["blocks"]}
    body = block_action(dm.params["channel"], dm.response["channel"], message, button(dm.params["blocks"], label))
    assert signed_post(live.http, SLACK_SIGNING_SECRET, body).status_code == 200
