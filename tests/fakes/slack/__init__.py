"""An in-process fake of the Slack Web API for tests, limited to the methods nps-bot calls.

``FakeSlack`` is a real HTTP server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, ephemeral port) that
``slack_sdk.WebClient`` / ``AsyncWebClient`` (and therefore Bolt apps) talk to via
``base_url=fake.base_url``.  It records every call, answers with Slack-shaped payloads, keeps a small
directory of users and channels, and can be told to fail (429 with ``Retry-After``, 5xx, or any
``{"ok": false}`` error) or to return canned bodies.

Usage::

    def test_something(fake_slack):  # fixture below, made visible to every test by tests/conftest.py
        fake_slack.add_channel("C0001", "general", is_member=True)
        client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
        client.chat_postMessage(channel="C0001", text="hi")
        (call,) = fake_slack.calls_to("chat.postMessage")
        assert call.params["text"] == "hi"

Modules: ``server`` (``FakeSlack``, dispatch), ``transport`` (HTTP), ``recording`` (``Call``, planned
answers, waiting), ``workspace`` (directory, ids, channel rules, posted messages), ``limits`` (Slack's rate
limits, when a test turns them on with ``fake.enforce_limits()``), and one module per method family:
``auth`` (auth.test), ``chat`` (postMessage, postEphemeral, update), ``conversations`` (info, open, history),
``users`` (info, lookupByEmail), ``views`` (open, publish), ``files`` (getUploadURLExternal, the upload
URL, completeUploadExternal: what ``files_upload_v2`` does).

Behaviour that mirrors Slack (and that tests can rely on):

* every method answers HTTP 200; errors are ``{"ok": false, "error": ...}``;
* a token that is missing or doesn't start with ``xoxb-``/``xoxp-`` gets ``invalid_auth``;
* posting to a configured public channel the bot isn't in is ``not_in_channel`` (unless ``chat:write.public``
  is in ``fake.scopes``); a private one is ``channel_not_found`` (so is ``conversations.info`` on it);
  channels that were never configured are accepted, unless ``FakeSlack(strict_channels=True)``;
* posting to a user id ``U…``/``W…`` answers with the DM channel ``D…``;
* ``ts`` values are unique and strictly increasing (``"1700000000.000100"``, ``"1700000000.000200"``, …);
* every request under ``/api/`` is recorded (so is a ``response_url`` pointed at ``base_url``); with a
  valid token, a method the fake does not implement answers ``{"ok": true}``;
* messages posted (not thread replies) are kept per channel and returned newest first by
  ``conversations.history``, with their ``metadata`` only when ``include_all_metadata`` is set;
* with ``fake.enforce_limits()`` a method over its tier answers 429 with ``Retry-After``, and calls inside
  that window are refused again and listed in ``limits.refused_inside_window``;
* ``fake.on_call`` (if set) sees each recorded call before it is answered, e.g. to kill the sender.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack.recording import Call
from tests.fakes.slack.server import FakeSlack

__all__ = ["Call", "FakeSlack", "fake_slack"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started :class:`FakeSlack`; stopped after the test."""
    with FakeSlack() as fake:
        yield fake
