"""Where a connector's verify and parse run: on the event loop only when the connector says it only
computes (`@parses_in_memory`) and the body is small; otherwise in a worker thread, so a
connector that writes to the database or a large body to hash never stalls the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from nps_bot.plugin.ports import Parsed, WebhookRequest, parses_in_memory
from nps_bot.web import INLINE_PARSE_BYTES
from tests.support.app import Live


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Recording:
    """A connector that accepts anything and records, per call, whether it ran on the event loop."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def verify(self, request: WebhookRequest) -> None:
        self.calls.append(("verify", on_event_loop()))

    def parse(self, request: WebhookRequest) -> Parsed:
        self.calls.append(("parse", on_event_loop()))
        return Parsed(ignored="recorded")


@parses_in_memory
class RecordingInMemory(Recording):
    pass


@pytest.mark.parametrize(
    ("connector", "size", "on_loop"),
    [
        (RecordingInMemory, 200, True),
        (RecordingInMemory, INLINE_PARSE_BYTES + 1, False),
        (Recording, 200, False),
    ],
    ids=["in-memory-small", "in-memory-large", "may-do-io"],
)
def test_verify_and_parse_run_on_the_loop_only_for_small_bodies_of_pure_connectors(
    make_live: Callable[..., Live], connector: type[Recording], size: int, on_loop: bool
) -> None:
    live = make_live()
    plugin = connector()
    live.ctx.integrations["recording"] = plugin
    response = live.http.post("/webhooks/recording", content=b"x" * size)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "ignored", "reason": "recorded"}
    assert plugin.calls == [("verify", on_loop), ("parse", on_loop)]
