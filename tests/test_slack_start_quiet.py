"""Starting with Slack configured logs no warning that is expected on every start: Bolt's "`token` will
be unused" (we hand it a client built with that token) would teach operators to ignore warnings."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.fakes.slack import FakeSlack
from tests.support.app import Live
from tests.support.slack import slack_env


def test_no_warnings_when_the_slack_app_starts(
    make_live: Callable[..., Live], fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        live = make_live(env=slack_env(fake_slack))
        assert live.http.get("/livez").status_code == 200
    bolt = [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")]
    assert bolt == []
