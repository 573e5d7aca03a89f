"""`nps-bot serve` as a real process, the way a user starts it: a free port, the environment without
the test runner's NPS_BOT_*/SLACK_* variables, stderr collected line by line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment minus every nps-bot and Slack setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NPS_BOT_", "SLACK_"))}
    return env | settings


@dataclass
class Served:
    proc: subprocess.Popen[str]
    base: str
    lines: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_until_ready(self, path: str = "/healthz", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}{path}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n{self.log}"
            assert time.monotonic() < deadline, f"{path} never answered 200:\n{self.log}"
            time.sleep(0.1)


@contextmanager
def serve(tmp_path: Path, env: dict[str, str], *, ready: str | None = "/healthz") -> Iterator[Served]:
    """Start `nps-bot serve` in `tmp_path` with `env` (which must set NPS_BOT_PORT); wait for `ready`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nps_bot.cli", "serve"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    served = Served(proc, f"http://127.0.0.1:{env['NPS_BOT_PORT']}")
    threading.Thread(target=lambda: served.lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        if ready:
            served.wait_until_ready(ready)
        yield served
    finally:
        proc.terminate()
        proc.wait(10)
