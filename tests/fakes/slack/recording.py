"""What the fake received, and what it was told to answer next: ``Call``, ``fail``/``respond``, ``wait_for``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack.workspace import Request


@dataclass
class Call(Request):
    """One request received by the fake (including ones that were answered with an error)."""

    status: int = 200
    response: Any = None
    http_method: str = "POST"
    connection: int = 0  # sequence number of the TCP connection the request arrived on
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic of the test process)

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error") if isinstance(self.response, dict) else None


@dataclass
class Planned:
    """A programmed answer for the next ``remaining`` calls of one method."""

    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


class Recorder:
    """Thread-safe call log and per-method queue of programmed answers."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._planned: dict[str, deque[Planned]] = {}
        #: Exceptions raised inside the fake while handling a request (answered with HTTP 500).
        self.server_errors: list[BaseException] = []

    # ------------------------------------------------------------------ programmed answers

    def fail(
        self,
        method: str,
        status: int = 429,
        retry_after: float | str | None = 1,
        times: int = 1,
        error: str = "ratelimited",
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` and ``{"ok": false, "error"}``.

        ``Retry-After`` is sent for 429s (when ``retry_after`` is not None), verbatim: ``"4.0"`` or ``"soon"``
        test a client's parsing.  Use ``status=200`` to simulate a
        plain Slack API error such as ``fail("chat.postMessage", status=200, error="is_archived")``.
        """
        headers = {"Retry-After": str(retry_after)} if status == 429 and retry_after is not None else {}
        self._plan(method, Planned(status, {"ok": False, "error": error}, headers, times))

    def respond(
        self,
        method: str,
        json_body: Any,
        times: int = 1,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``json_body`` verbatim."""
        self._plan(method, Planned(status, json_body, dict(headers or {}), times))

    def _plan(self, method: str, planned: Planned) -> None:
        if planned.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._cond:
            self._planned.setdefault(method, deque()).append(planned)

    def take_planned(self, method: str) -> Planned | None:
        with self._cond:
            queue = self._planned.get(method)
            if not queue:
                return None
            planned = queue[0]
            planned.remaining -= 1
            if planned.remaining <= 0:
                queue.popleft()
            return planned

    # ------------------------------------------------------------------ recording and inspection

    def record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def record_error(self, error: BaseException) -> None:
        with self._cond:
            self.server_errors.append(error)

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 2.0) -> list[Call]:
        """Block until ``count`` calls to ``method`` were received; return them all.

        Raises AssertionError listing what was received on timeout.  From async code use
        :meth:`wait_for_async` instead, so the event loop can keep sending the requests.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [c for c in self._calls if c.method == method]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(method, count, timeout, matching))
                self._cond.wait(remaining)

    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 2.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            matching = self.calls_to(method)
            if len(matching) >= count:
                return matching
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, timeout, matching))
            await asyncio.sleep(0.01)

    def _timeout_message(self, method: str, count: int, timeout: float, matching: list[Call]) -> str:
        received = ", ".join(f"{c.method}[{c.status}{'' if c.ok else ' ' + str(c.error)}]" for c in self.calls)
        return f"expected {count} call(s) to {method!r} within {timeout}s, got {len(matching)}; received: [{received}]"

    def clear_recording(self) -> None:
        with self._cond:
            self._calls.clear()
            self._planned.clear()
            self.server_errors.clear()
