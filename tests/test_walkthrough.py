"""README's "Try it locally" runs as written: its commands, read from README.md, run for real.

`nps-bot serve &` becomes a subprocess (on a free port, set as NPS_BOT_PORT so every later command
finds it the way a user's would), `nps-bot try` posts a signed close to it, the survey link the
console channel logs is followed and answered by POST, and the digest counts the answers.
Only the virtualenv and `pip install` lines are skipped: the test runs in the installed package.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from tests.support.processes import clean_env, free_port

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- walkthrough:"
SKIPPED = ("python3 -m venv", "pip install")


def walkthrough_commands(readme: str) -> list[str]:
    """The lines of the ```sh block right after the walkthrough marker, trailing comments removed."""
    start = readme.index(MARKER)
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block, "no ```sh block after the walkthrough marker"
    lines = []
    for line in block.group(1).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough_commands(README.read_text(encoding="utf-8"))
    assert any(c.startswith("nps-bot serve") for c in commands) and any(c.startswith("nps-bot try") for c in commands)
    port = free_port()
    env = clean_env(NPS_BOT_PORT=str(port), NPS_BOT_WORKER_POLL_INTERVAL="0.2")  # the port is the test's one change
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[str] | None = None
    log: list[str] = []
    answered = 0

    def nps_bot(args: list[str]) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, "-m", "nps_bot.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, f"nps-bot {shlex.join(args)}:\n{run.stdout}{run.stderr}\nserve log:\n{''.join(log)}"
        return run

    try:
        for command in commands:
            if command.startswith(SKIPPED):
                continue
            words = shlex.split(command)
            if words[0] == "export":
                env |= dict(word.split("=", 1) for word in words[1:])
            elif words[:2] == ["nps-bot", "serve"] and words[-1] == "&":
                server = subprocess.Popen(
                    [sys.executable, "-m", "nps_bot.cli", *words[1:-1]],
                    cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
                threading.Thread(target=_read_into, args=(server.stderr, log), daemon=True).start()
            elif words[:2] == ["nps-bot", "try"]:
                out = nps_bot(words[1:]).stdout
                assert ": scheduled" in out, out
                survey_id = int(re.search(r"survey (\d+) is due now", out).group(1))  # type: ignore[union-attr]
                if "--score" in words:
                    assert "answered" in out, out
                else:  # the reader opens the link the log shows, picks a score and sends it
                    link = _logged_link(log, survey_id)
                    assert link.startswith(f"{base}/s/"), link
                    assert httpx.get(link, timeout=10).status_code == 200
                    page = httpx.post(link, data={"score": 7}, timeout=10, follow_redirects=True)
                    assert page.status_code == 200, page.text
                answered += 1
            elif words[:2] == ["nps-bot", "digest"]:
                out = nps_bot(words[1:]).stdout
                assert f"{answered} answers" in out, out
            elif words == ["kill", "%1"]:
                assert server is not None, "kill %1 before nps-bot serve &"
                server.terminate()
                assert server.wait(15) in (0, -15), "".join(log)  # uvicorn re-raises SIGTERM after a clean stop
                assert any("Application shutdown complete" in line for line in log), "".join(log)
                server = None
            else:
                raise AssertionError(f"the walkthrough has a command this test does not know how to run: {command}")
        assert answered == 2 and server is None
        assert not any("someone@example.com" in line for line in log)  # logs never hold customer addresses
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def _read_into(stream: IO[str], lines: list[str]) -> None:
    lines.extend(iter(stream.readline, ""))


def _logged_link(log: list[str], survey_id: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"\[console\] would send \w+ survey {survey_id} .*?(http://\S+/s/\S+)")
    while time.monotonic() < deadline:
        for line in list(log):
            if match := pattern.search(line):
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError("no survey link in the serve log:\n" + "".join(log))
