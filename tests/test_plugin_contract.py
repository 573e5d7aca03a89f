"""The plugin contract is real: a separately packaged connector, installed with pip, is served at
/webhooks/<name> without touching the core."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Live

PACKAGE = Path(__file__).parent / "plugin_example"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "site"
    source = shutil.copytree(PACKAGE, tmp_path / "src")  # builds leave build/ behind: not in the repo
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    # Installed into its own directory; putting it on sys.path is what a site-packages install does.
    monkeypatch.syspath_prepend(str(target))
    return target


def test_third_party_connector_is_served(installed_plugin: Path, make_live: Callable[..., Live]) -> None:
    assert (installed_plugin / "nps_bot_tinydesk-0.1.0.dist-info" / "entry_points.txt").exists()
    live = make_live()
    assert "tinydesk" in live.ctx.integrations
    body = b'{"ticket": "TD-7", "email": "ann@example.com", "closed": true}'
    refused = live.http.post("/webhooks/tinydesk", content=body, headers={"x-tiny-token": "nope"})
    assert refused.status_code == 401
    r = live.http.post("/webhooks/tinydesk", content=body, headers={"x-tiny-token": "tiny-secret"})
    assert (r.status_code, live.outcome(r)["status"]) == (202, "scheduled")
    again = live.http.post("/webhooks/tinydesk", content=body, headers={"x-tiny-token": "tiny-secret"})
    assert live.outcome(again)["status"] == "duplicate"
    ignored = live.http.post(
        "/webhooks/tinydesk", content=b'{"ticket": "TD-8"}', headers={"x-tiny-token": "tiny-secret"}
    )
    assert live.outcome(ignored)["status"] == "ignored"


def test_without_the_package_there_is_no_such_connector(make_live: Callable[..., Live]) -> None:
    live = make_live()
    assert live.http.post("/webhooks/tinydesk", content=b"{}").status_code == 404
