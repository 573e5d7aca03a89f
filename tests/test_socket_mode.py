"""Socket Mode with real `nps-bot serve` processes against the fake Slack Web API and a fake Socket Mode
WebSocket server: a refused app token stops `serve` with one line; passing failures are retried in the
background while HTTP is served and /readyz tells the state; SIGTERM stops `serve` in every state."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.slack import FakeSlack
from tests.fakes.slack.socket_mode import FakeSocketMode
from tests.support.processes import Served, clean_env, free_port, serve

METHOD = "apps.connections.open"


def _env(tmp_path: Path, fake_slack: FakeSlack) -> dict[str, str]:
    return clean_env(
        NPS_BOT_PORT=str(free_port()),
        NPS_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'nps.db'}",
        NPS_BOT_EMBEDDED_WORKER="false",
        NPS_BOT_SLACK_API_URL=fake_slack.base_url,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-1-test",
    )


def _readyz(served: Served) -> tuple[int, dict[str, str]]:
    """The status and the states, without the intake queue's figures (tests/test_intake.py has those)."""
    response = httpx.get(f"{served.base}/readyz", timeout=2)
    body = response.json()
    body.pop("intake", None)
    return response.status_code, body


def _wait_for_state(served: Served, text: str, timeout: float = 20) -> list[tuple[int, dict[str, str]]]:
    """Poll /readyz (and /livez, which must stay 200) until Socket Mode's state contains `text`."""
    seen: list[tuple[int, dict[str, str]]] = []
    deadline = time.monotonic() + timeout
    while not seen or text not in seen[-1][1].get("slack_socket_mode", ""):
        assert time.monotonic() < deadline, f"never {text!r}: {seen[-5:]}\n{served.log}"
        assert httpx.get(f"{served.base}/livez", timeout=2).status_code == 200
        seen.append(_readyz(served))
        time.sleep(0.2)
    return seen


def _stops_on_sigterm(served: Served) -> None:
    started = time.monotonic()
    served.proc.terminate()
    served.proc.wait(10)  # raises TimeoutExpired past 10 s
    assert time.monotonic() - started < 10
    assert "Traceback" not in served.log, served.log


def test_a_refused_app_token_stops_serve_with_one_line(tmp_path: Path, fake_slack: FakeSlack) -> None:
    # The fake answers invalid_auth to any xapp- token, as Slack does to one that is wrong or revoked.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "nps_bot.cli", "serve"],
        cwd=tmp_path, env=_env(tmp_path, fake_slack), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert time.monotonic() - started < 15
    assert "Traceback" not in done.stderr, done.stderr
    fatal = [line for line in done.stderr.splitlines() if line.startswith("nps-bot serve:")]
    assert len(fatal) == 1, done.stderr
    assert "SLACK_APP_TOKEN" in fatal[0] and "invalid_auth" in fatal[0]
    assert "xapp-1-test" not in done.stderr  # the token itself is never printed
    assert [c.token for c in fake_slack.calls_to(METHOD)] == ["xapp-1-test"]


def test_passing_failures_are_retried_while_http_is_served(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with FakeSocketMode() as socket_server:
        fake_slack.respond(METHOD, {"ok": False, "error": "internal_error"}, status=500)  # the preflight
        no_socket_here = f"ws://127.0.0.1:{socket_server.port}/gone/?ticket=one-time-secret"
        fake_slack.respond(METHOD, {"ok": True, "url": no_socket_here})  # attempt 1: handshake answered 404
        fake_slack.respond(METHOD, {"ok": True, "url": f"ws://127.0.0.1:{free_port()}/closed"})  # 2: refused
        fake_slack.respond(METHOD, {"ok": True, "url": socket_server.url}, times=5)
        with serve(tmp_path, _env(tmp_path, fake_slack), ready="/livez") as served:
            seen = _wait_for_state(served, "connected")
            assert seen[-1] == (200, {"status": "ok", "database": "ok", "slack_socket_mode": "connected"})
            retrying = [body for status, body in seen if status == 503 and body["status"] == "starting"]
            assert any(b["slack_socket_mode"].startswith("retrying in ") for b in retrying), seen
            assert httpx.get(f"{served.base}/healthz").status_code == 200
            assert socket_server.connections == 1
            attempts = [line for line in served.lines if "Slack Socket Mode attempt" in line]
            assert len(attempts) == 2, served.log  # one line per failed attempt, and no traceback
            assert "retrying in 1 s" in attempts[0] and "retrying in 2 s" in attempts[1]
            assert "one-time-secret" not in served.log  # the URL's ticket is a credential

            socket_server.drop()  # Slack closes the connection: a new URL, a new connection
            deadline = time.monotonic() + 20
            while socket_server.connections < 2 or _readyz(served)[0] != 200:
                assert time.monotonic() < deadline, served.log
                time.sleep(0.2)
            assert any("connection lost" in line for line in served.lines), served.log
            _stops_on_sigterm(served)
        assert len(fake_slack.calls_to(METHOD)) == 5


def test_sigterm_stops_serve_while_it_retries(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.respond(METHOD, {"ok": False, "error": "internal_error"}, times=1000, status=503)
    with serve(tmp_path, _env(tmp_path, fake_slack), ready="/livez") as served:
        status, body = _wait_for_state(served, "retrying")[-1]
        assert status == 503 and "internal_error (HTTP 503)" in body["slack_socket_mode"]
        assert httpx.get(f"{served.base}/healthz").status_code == 200  # as before: the database is fine
        _stops_on_sigterm(served)


def test_a_token_refused_later_stops_the_retries(tmp_path: Path, fake_slack: FakeSlack) -> None:
    # The preflight gets a URL; the background task then meets invalid_auth (the token was revoked).
    fake_slack.respond(METHOD, {"ok": True, "url": "ws://127.0.0.1:9/unused"})
    with serve(tmp_path, _env(tmp_path, fake_slack), ready="/livez") as served:
        status, body = _wait_for_state(served, "stopped")[-1]
        assert status == 503 and "invalid_auth" in body["slack_socket_mode"]
        calls = len(fake_slack.calls_to(METHOD))
        time.sleep(2.5)  # no more attempts once the token is known to be refused
        assert len(fake_slack.calls_to(METHOD)) == calls == 2
        _stops_on_sigterm(served)
